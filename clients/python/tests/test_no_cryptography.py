"""HS256 needs nothing outside the standard library; a JWKS without the
`cryptography` package fails at construction with a message that says how
to install it. Run in a child interpreter where cryptography cannot be
imported."""

import subprocess
import sys
import textwrap
import unittest
from pathlib import Path

PYTHON_DIR = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent("""
    import sys
    sys.modules["cryptography"] = None  # any import of it now raises ImportError
    from sidecar_session import MissingDependency, Sidecar
    from tests.helpers import SECRET, Clock, claims, hs256
    assert "cryptography" not in [m for m in sys.modules if sys.modules[m] is not None]
    sc = Sidecar(secret=SECRET, clock=Clock())
    assert sc.verify(hs256(claims()))["sub"] == "alice"
    for kw in ({"jwks": {"keys": []}}, {"jwks_url": "http://127.0.0.1:1/jwks"}):
        try:
            Sidecar(**kw)
        except MissingDependency as exc:
            assert isinstance(exc, ImportError)
            assert "python3-cryptography" in str(exc), str(exc)
        else:
            raise AssertionError("no MissingDependency for %r" % (kw,))
    print("ok")
""")


class NoCryptographyTest(unittest.TestCase):
    def test_hs256_without_cryptography(self):
        out = subprocess.run([sys.executable, "-c", CHILD], cwd=str(PYTHON_DIR), capture_output=True,
                             text=True, timeout=60)
        self.assertEqual((out.returncode, out.stdout.strip()), (0, "ok"), out.stderr)


if __name__ == "__main__":
    unittest.main()
