"""The repo root must not shadow the standard library, and imports go through ``commonroom``."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_stdlib_platform_module_works_from_the_repo_root():
    out = subprocess.run([sys.executable, "-c", "import platform; print(platform.system())"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() in {"Linux", "Darwin", "Windows"}


def test_platform_folder_has_no_init_file():
    assert not (ROOT / "platform" / "__init__.py").exists()


def test_domain_imports_nothing_from_platform_or_flask():
    for path in (ROOT / "domain").glob("*.py"):
        text = path.read_text()
        assert "commonroom.platform" not in text and "flask" not in text.lower(), path
        assert "sqlalchemy" not in text, path


def test_projections_do_not_import_platform():
    for path in (ROOT / "projections").glob("*.py"):
        assert "commonroom.platform" not in path.read_text(), path
