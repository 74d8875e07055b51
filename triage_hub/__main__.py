"""`python -m triage_hub` is `triage-hub`."""

from __future__ import annotations

from triage_hub.cli import main

if __name__ == "__main__":
    main()
