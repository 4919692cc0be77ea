"""Physical constants: the one module that defines them.

Schemes keep the values their references use, so the constants come in named sets
(:class:`ConstantSet`): RRTMG's heating rates use sympl's ``g`` = 9.80665 m s⁻² and ``c_p`` =
1004.64 J kg⁻¹ K⁻¹, the Alexander-Dunkerton scheme MiMA's ``g`` = 9.80 and ``c_p = R_d/(2/7)``,
the 1-D QBO model ``qbo1d``'s ``g`` = 9.8. Mixing them would change reference numbers (RRTMG's
heating equals its flux divergence to 1e-12 only with its own ``g/c_p``). A test checks that no
other module in ``src/`` assigns these constants or writes their values as literals.
"""

from __future__ import annotations

from dataclasses import dataclass

SECONDS_PER_DAY = 86400.0
SECONDS_PER_HOUR = 3600.0
#: Stefan-Boltzmann constant (CODATA 2018).
STEFAN_BOLTZMANN_W_PER_M2_K4 = 5.670374419e-8
MELTING_POINT_K = 273.15
#: Reference pressure p₀ of potential temperature and of the dycore's sigma coordinates (1000 hPa).
REFERENCE_PRESSURE_PA = 1.0e5
#: Standard gravity (CGPM 1901), as ERA5, MERRA-2 and sympl/RRTMG take it.
STANDARD_GRAVITY_M_PER_S2 = 9.80665
DRY_AIR_GAS_CONSTANT_J_PER_KG_K = 287.04
#: Ratio of the gas constants of dry air and water vapour, R_d / R_v (= M_w / M_d).
EPSILON = 0.621981
LATENT_HEAT_VAPORIZATION_J_PER_KG = 2.501e6
MOLAR_MASS_DRY_AIR_G_PER_MOL = 28.9644
MOLAR_MASS_OZONE_G_PER_MOL = 47.9982
SEAWATER_DENSITY_KG_PER_M3 = 1025.0
SEAWATER_HEAT_CAPACITY_J_PER_KG_K = 3985.0
#: Freezing point of seawater of salinity 35 g/kg at the surface (-1.8 °C).
SEAWATER_FREEZING_POINT_K = 271.35
#: R_d / c_p of dry air as potential temperature is usually written (2/7 rounded), ERA5's convention.
KAPPA_DRY_AIR = 0.2857


@dataclass(frozen=True)
class ConstantSet:
    """The gravity, heat capacity and gas constant one scheme's reference uses."""

    name: str
    gravity_m_per_s2: float
    cp_dry_air_J_per_kg_K: float
    dry_air_gas_constant_J_per_kg_K: float = DRY_AIR_GAS_CONSTANT_J_PER_KG_K

    @property
    def heating_K_per_day_per_W_per_kg(self) -> float:
        """``(g / c_p) · 86400``: K/day of heating per (W m⁻² per Pa) of flux convergence."""
        return self.gravity_m_per_s2 / self.cp_dry_air_J_per_kg_K * SECONDS_PER_DAY


#: sympl's defaults, which climt's RRTMG and every radiation heating rate here use.
RRTMG = ConstantSet("rrtmg (sympl)", STANDARD_GRAVITY_M_PER_S2, 1004.64)
#: MiMA's Alexander-Dunkerton settings: g = 9.80, c_p = R_d / (2/7).
AD99 = ConstantSet("ad99 (MiMA)", 9.80, DRY_AIR_GAS_CONSTANT_J_PER_KG_K / (2.0 / 7.0))
#: O. Shamir's qbo1d: g = 9.8 (its isothermal scale height RT/g).
QBO1D = ConstantSet("qbo1d", 9.8, DRY_AIR_GAS_CONSTANT_J_PER_KG_K / (2.0 / 7.0))
#: Earth's radius and rotation rate as Jablonowski & Williamson (2006) and dinosaur take them.
EARTH_RADIUS_M = 6.37122e6
EARTH_ROTATION_RATE_PER_S = 7.292e-5
