"""Documentation generated from the code stays in step with it."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_contributing_protocol_reference_is_current():
    """Catches a protocol or factory signature changed in the code but not in CONTRIBUTING.md."""
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "contract_docs.py"), "--check"], timeout=120)
    assert done.returncode == 0, "run python scripts/contract_docs.py"
