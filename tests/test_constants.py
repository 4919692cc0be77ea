"""Physical constants live in one module, :mod:`subgrid.physics.constants`.

An AST scan of every other module in ``src/subgrid``: none may assign a name that reads like one
of the constants (``GRAVITY_M_PER_S2 = ...``) or write one of their values as a number literal
(``* 86400.0``, ``/ 9.80665``). Docstrings and comments may quote the values; only numbers in code
count.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import subgrid

SOURCE_ROOT = Path(subgrid.__file__).resolve().parent
CONSTANTS_MODULE = SOURCE_ROOT / "physics" / "constants.py"

#: Names of constants that only physics/constants.py may define (matched anywhere in the name, case-sensitively).
CONSTANT_NAME = re.compile(
    r"GRAVITY|CP_DRY_AIR|GAS_CONSTANT|LATENT_HEAT|SECONDS_PER_DAY|STEFAN_BOLTZMANN|EPSILON|KAPPA|SEAWATER_"
    r"|MOLAR_MASS|MELTING_POINT"
)
#: Values of those constants (9.80 == 9.8; 86400 matches int and float).
CONSTANT_VALUES = (9.80665, 9.8, 1004.64, 287.04, 86400, 2.501e6, 5.670374419e-8, 0.621981, 0.2857, 273.15, 28.9644,
                   47.9982)  # fmt: skip


def _assigned_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Tuple | ast.List):
        return [name for element in target.elts for name in _assigned_names(element)]
    return []


def constant_violations(source: str, filename: str) -> list[str]:
    """``file:line: what`` for each constant assigned or written as a literal in ``source``."""
    violations = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for name in (name for target in targets for name in _assigned_names(target)):
                if CONSTANT_NAME.search(name):
                    violations.append((node.lineno, f"assigns {name} (import it from subgrid.physics.constants)"))
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, int | float)
            and not isinstance(node.value, bool)
            and node.value in CONSTANT_VALUES
        ):
            violations.append((node.lineno, f"literal {node.value!r} (a constant of subgrid.physics.constants)"))
    return [f"{filename}:{line}: {what}" for line, what in sorted(violations)]


def test_physical_constants_are_defined_only_in_physics_constants():
    violations = [
        violation
        for path in sorted(SOURCE_ROOT.rglob("*.py"))
        if path != CONSTANTS_MODULE
        for violation in constant_violations(
            path.read_text(encoding="utf-8"), str(path.relative_to(SOURCE_ROOT.parent))
        )
    ]
    assert not violations, "physical constants outside subgrid/physics/constants.py:\n" + "\n".join(violations)


def test_the_scan_catches_planted_constants_and_passes_imported_ones(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text(
        '"""Quoting g = 9.80665 in a docstring is fine."""\n'
        "from subgrid.physics.constants import SECONDS_PER_DAY\n"
        "GRAVITY_M_PER_S2 = 9.81\n"
        "_LOCAL_EPSILON, other = 0.62, 1.0\n"
        "def heating(flux, dp):\n"
        "    return 9.8 / 1004.64 * 86400 * flux / dp\n"
        "def per_day(rate):\n"
        "    return rate * SECONDS_PER_DAY  # 86400 in a comment is fine\n"
    )
    found = constant_violations(planted.read_text(), "planted.py")
    assert [line.split(": ", 1)[0] for line in found] == ["planted.py:3", "planted.py:4"] + ["planted.py:6"] * 3
    assert "assigns GRAVITY_M_PER_S2" in found[0] and "assigns _LOCAL_EPSILON" in found[1]
    assert {line.rsplit("literal ", 1)[1].split(" ")[0] for line in found[2:]} == {"9.8", "1004.64", "86400"}
    clean = "from subgrid.physics.constants import RRTMG\nx = RRTMG.gravity_m_per_s2\n"
    assert constant_violations(clean, "ok.py") == []
