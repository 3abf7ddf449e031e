"""Where ``app/cells.py`` finds :data:`CELL_COLUMNS` until it moves to ``coverage/``.

Delete this file when ``app/cells.py`` becomes ``coverage/map_cells.py``.
"""

from app.store.schema import CELL_COLUMNS

__all__ = ["CELL_COLUMNS"]
