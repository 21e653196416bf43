"""Entry script of the PyInstaller bundle: the same `main` as the installed `voxtral-desktop` command."""

import json
import os
import sys
import traceback


def _import_check(names: str) -> int:
    """The smoke test's import check (tests/packaging): import each named module inside the bundle and print
    one JSON line per module, with the error's type and message when it fails. A dependency that reads a
    data file at import fails here even when no test happens to reach it."""
    import importlib

    for name in filter(None, names.split(",")):
        try:
            importlib.import_module(name)
            error = None
        except BaseException as e:  # noqa: BLE001 - reported, whatever it is: this is a diagnostic
            error = {
                "type": type(e).__name__,
                "message": str(e),
                "missing_module": getattr(e, "name", None) if isinstance(e, ImportError) else None,
                "trace": traceback.format_exc(limit=-3),
            }
        print(json.dumps({"module": name, "error": error}), flush=True)
    return 0


if __name__ == "__main__":
    if os.environ.get("VOXTRAL_LLAMACPP_ENGINE"):  # core/backends/llamacpp_process.py: run the engine, not the app
        from voxtral_desktop.core.backends.llamacpp_engine import main as engine_main

        sys.exit(engine_main(sys.argv[1:]))
    if os.environ.get("VOXTRAL_BUNDLE_IMPORT_CHECK"):
        sys.exit(_import_check(os.environ["VOXTRAL_BUNDLE_IMPORT_CHECK"]))
    from voxtral_desktop.cli import main

    sys.exit(main())
