"""Names, dims and units of the radiation column data: the contract between sampler, scheme and emulators.

Conventions (docs/REFERENCE.md section 2): dims ``column``, ``level`` (layer centres) and ``interface``
(= level + 1); vertical order ``surface_first`` (index 0 is the lowest layer / the surface
interface, as climt stores it); SI units except where the field's custom differs (water paths in
g m-2, particle sizes in micrometres, heating rates in K/day).
"""

from __future__ import annotations

from subgrid.core.contract import Variable

VERTICAL_ORDER = "surface_first"


COL = ("column",)
LEV = ("column", "level")
INT = ("column", "interface")

#: Everything RRTMG needs for one column, in physical units.
RADIATION_INPUTS: dict[str, Variable] = {
    "air_pressure": Variable(LEV, "Pa", "air pressure at layer centres"),
    "air_pressure_on_interface": Variable(INT, "Pa", "air pressure at layer interfaces"),
    "air_temperature": Variable(LEV, "K", "air temperature at layer centres"),
    "surface_temperature": Variable(COL, "K", "surface skin temperature"),
    "specific_humidity": Variable(LEV, "kg kg-1", "specific humidity"),
    "ozone_mole_fraction": Variable(LEV, "mol mol-1", "ozone mole fraction in air"),
    "co2_mole_fraction": Variable(COL, "mol mol-1", "carbon dioxide mole fraction (well mixed)"),
    "cloud_fraction": Variable(LEV, "1", "cloud area fraction in layer"),
    "cloud_liquid_water_path": Variable(LEV, "g m-2", "in-cloud liquid water path of layer"),
    "cloud_ice_water_path": Variable(LEV, "g m-2", "in-cloud ice water path of layer"),
    "cloud_droplet_radius": Variable(LEV, "um", "cloud droplet effective radius"),
    "cloud_ice_radius": Variable(LEV, "um", "cloud ice particle effective radius"),
    "surface_albedo_visible": Variable(COL, "1", "surface albedo, visible (direct = diffuse)"),
    "surface_albedo_near_infrared": Variable(COL, "1", "surface albedo, near infrared (direct = diffuse)"),
    "surface_emissivity": Variable(COL, "1", "surface longwave emissivity (all bands)"),
    "cos_solar_zenith_angle": Variable(COL, "1", "cosine of solar zenith angle (<= 0 at night)"),
    "earth_sun_distance_factor": Variable(COL, "1", "(mean Earth-Sun distance / distance)^2"),
}

#: Columns description the sampler adds for regime splits and hold-outs (not used by RRTMG).
COLUMN_DESCRIPTORS: dict[str, Variable] = {
    "latitude": Variable(COL, "degrees_north", "latitude"),
    "surface_type": Variable(COL, "1", "surface type code (see flag_meanings)"),
    "cloud_regime": Variable(COL, "1", "cloud regime code (see flag_meanings)"),
    "day_of_year": Variable(COL, "day", "day of year (1-365)"),
    "local_solar_time": Variable(COL, "hour", "local solar time"),
}

SURFACE_TYPES = ("ocean", "land", "sea_ice", "snow_covered_land")
CLOUD_REGIMES = ("clear", "low", "middle", "high", "multi_layer", "deep_convective")

_BANDS = ("lw", "sw")
_SKIES = (("", "all-sky"), ("_clear", "clear-sky"))

#: What RRTMG returns: fluxes on interfaces (W m-2) and heating rates on levels (K/day).
RADIATION_OUTPUTS: dict[str, Variable] = {
    **{
        f"{band}_flux_{direction}{suffix}": Variable(
            INT, "W m-2", f"{sky} {direction}ward {band.upper()} flux at interfaces"
        )
        for band in _BANDS
        for direction in ("up", "down")
        for suffix, sky in _SKIES
    },
    **{
        f"{band}_heating_rate{suffix}": Variable(
            LEV, "K day-1", f"{sky} {band.upper()} heating rate, (g/cp) dF_net/dp"
        )
        for band in _BANDS
        for suffix, sky in _SKIES
    },
}
