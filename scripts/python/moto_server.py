"""moto_server for the test suite: exits by itself when the process that started it is gone.

The Rust tests start one server per test binary and cannot reliably kill it at exit (statics
are not dropped), so the server watches its parent instead of relying on being killed.
"""

import os
import sys
import threading
import time

from moto.server import main


def exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


if __name__ == "__main__":
    threading.Thread(target=exit_with_parent, args=(os.getppid(),), daemon=True).start()
    main(sys.argv[1:])
