"""The workflow's ASL, as each state machine gets it (every ``${…}`` substituted as SAM would),
checked by npm's asl-validator (a tool nobody here wrote). CI runs it:

    python scripts/check_asl.py path/to/asl-validator
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from tda_local.template import load_template
from tda_local.workflows import functions, resolve_definition, state_machines


def main(validator: str) -> int:
    template = load_template()
    fns = functions(template)
    failed = 0
    with tempfile.TemporaryDirectory() as folder:
        for name, machine in state_machines(template).items():
            path = Path(folder) / f"{name}.asl.json"
            path.write_text(resolve_definition(machine, fns))
            done = subprocess.run([validator, "--json-path", str(path)], check=False)
            print(f"{name}: {'valid' if done.returncode == 0 else 'INVALID'}")
            failed += done.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "asl-validator"))
