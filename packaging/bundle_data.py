"""The data files of bundled packages: which go into the bundle, and the check that none is left out unseen.

PyInstaller follows imports, not file reads: a package that opens a file beside its modules at import
(kernels' python_depends.json, pulled in by transformers 5.25) works in the venv and breaks only in the
bundle. So every non-code file of every bundled package goes in, unless it is one a program never reads
(NEVER_READ) or one the spec leaves out on purpose (its DROP list); `missing()` names any other file that is
absent from a built bundle, and the smoke test in tests/packaging fails on it.
"""

from __future__ import annotations

import fnmatch
import sysconfig
from collections.abc import Iterable, Iterator
from pathlib import Path

# Compiled or source code: PyInstaller collects modules and extension libraries by import analysis.
CODE_SUFFIXES = frozenset(
    {".py", ".pyc", ".pyi", ".pyx", ".pxd", ".pxi", ".so", ".dylib", ".dll", ".lib", ".a",
     ".h", ".hpp", ".hh", ".c", ".cc", ".cpp", ".cu", ".cuh", ".o"}
)
# Files no program opens at run time: typing markers, tests and examples, documentation, licences (the
# bundle's licences are in docs/licenses.md), build-system files, shell completions, manual pages.
NEVER_READ = (
    "*/py.typed", "*/tests/*", "*/test/*", "*/_examples/*", "*/examples/*", "*/benchmarks/*",
    "*.md", "*.rst", "*/LICENSE*", "*/COPYING*", "*/NOTICE*", "*/ThirdPartyNotices*", "*/AUTHORS*",
    "*.cmake", "*/cmake/*", "*/meson.build", "*.bash", "*.zsh", "*.fish", "*/completion.sh", "*.1",
    "*.exe",  # setuptools' Windows launchers
)
# Packages whose PyInstaller hooks collect their files by their own rules (Qt's plugins, translations and
# tools): the checks here would only repeat them; the window smoke test proves Qt's part.
OWN_HOOKS = frozenset({"PySide6", "shiboken6"})

# Packages never bundled: GUI toolkits, notebooks, test tools that the app never imports (a module that
# imports one of them fails in the bundle on purpose; the import check allows exactly that).
NOT_BUNDLED = (
    "tkinter", "_tkinter", "matplotlib", "IPython", "ipykernel", "jupyter_client", "notebook",
    "pytest", "_pytest", "pytestqt", "hypothesis", "pytest_asyncio", "pytest_timeout",
)

# Left out on purpose when the bundle is trimmed (the spec's default; paths inside the bundle's _internal/):
# files the hooks or the rule above collect that the app never opens.
DROP = [
    # mistral_common's built-in legacy tokenizers (36 MB): Voxtral models ship their own tekken.json.
    "mistral_common/data/*",
    # torch's C++ test programs and build tools, headers, and libraries only torch's own tests load.
    "torch/test/*", "torch/bin/*", "torch/include/*", "torch/share/cmake/*",
    "torch/lib/libtorchbind_test.so", "torch/lib/libjitbackend_test.so",
    "torch/lib/libbackend_with_compiler.so", "torch/lib/libaoti_custom_ops.so",
    # pycountry's translations of country and language names (mistral_common only checks codes).
    "pycountry/locales/*",
    # Qt's virtual keyboard input method and the Qt Quick/QML libraries only it needs; the compose and
    # ibus input methods stay.
    "PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so",
    "PySide6/Qt/lib/libQt6VirtualKeyboard*", "PySide6/Qt/lib/libQt6Quick.so*",
    "PySide6/Qt/lib/libQt6Qml*",
]


def _matches(path: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, p) for p in patterns)


def data_files(package_dir: Path, root: Path) -> Iterator[tuple[str, Path]]:
    """(path inside the bundle, source) for each file of one package that a program may read at run time."""
    for path in sorted(package_dir.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix in CODE_SUFFIXES:
            continue
        if ".so." in path.name:  # a versioned shared library: a binary, collected by PyInstaller's analysis
            continue
        dest = path.relative_to(root).as_posix()
        if not _matches(dest, NEVER_READ):
            yield dest, path


def site_roots() -> list[Path]:
    """Where installed packages live (the standard library's own files are PyInstaller's business)."""
    paths = sysconfig.get_paths()
    return list(dict.fromkeys(Path(paths[key]) for key in ("purelib", "platlib")))


def package_dirs(top_level_names: Iterable[str], roots: Iterable[Path]) -> Iterator[tuple[Path, Path]]:
    """(package folder, the sys.path entry it is under) for each bundled top-level package with files."""
    roots = list(roots)
    for name in sorted(set(top_level_names) - OWN_HOOKS):
        for root in roots:
            folder = root / name
            if folder.is_dir():
                yield folder, root
                break


def missing(bundle_internal: Path, top_level_names: Iterable[str], roots: Iterable[Path],
            dropped: Iterable[str] = ()) -> list[str]:
    """Data files of bundled packages absent from a built bundle that the spec did not drop on purpose."""
    dropped = list(dropped)
    return [
        dest
        for folder, root in package_dirs(top_level_names, roots)
        for dest, _ in data_files(folder, root)
        if not (bundle_internal / dest).exists() and not _matches(dest, dropped)
    ]
