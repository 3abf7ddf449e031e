"""The bundled demo region, loaded into the store once per seed and code version."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from importlib import metadata
from pathlib import Path

from app.core.config import Rasters
from app.services.analysis import analyze_communes
from app.store import Store

logger = logging.getLogger(__name__)

_REPO = Path(__file__).resolve().parents[2]
# Code whose change alters what the demo loads or what the analysis finds.
_FINGERPRINTED = (
    "geodata",
    "coverage",
    "app/store",
    "app/services/analysis.py",
    "app/services/demo.py",
)


def demo_fingerprint(seed: int) -> str:
    """Return a digest of the seed, the package version and the analysis code.

    Two starts with the same fingerprint would load and analyse the same
    data to the same results, so the second one can skip straight to serving.
    """
    digest = hashlib.sha256(f"seed={seed}".encode())
    with contextlib.suppress(metadata.PackageNotFoundError):
        digest.update(metadata.version("lomsong").encode())
    for entry in _FINGERPRINTED:
        root = _REPO / entry
        files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
        for path in files:
            if path.is_file():
                digest.update(str(path.relative_to(_REPO)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def load_demo(store: Store, *, data_dir: Path, seed: int) -> bool:
    """Write, load and analyse the demo region unless the store already holds it.

    Parameters
    ----------
    store : Store
    data_dir : pathlib.Path
        The demo files go to ``data_dir/demo/seed-<seed>``.
    seed : int
        The demo generator's seed.

    Returns
    -------
    bool
        ``True`` when the demo was (re)loaded, ``False`` when it was current.
    """
    fingerprint = demo_fingerprint(seed)
    if store.demo_fingerprint() == fingerprint:
        logger.info("demo region (seed %d) already loaded and analysed", seed)
        return False

    from geodata.demo import write_demo
    from geodata.formats import read_readings, read_sites, read_villages, validate_chunks
    from geodata.villages import read_communes

    logger.info("writing the demo region (seed %d)", seed)
    files = write_demo(data_dir / "demo" / f"seed-{seed}", seed=seed)
    store.set_demo("")  # a crash below must not look loaded
    villages, sites = read_villages(files.villages), read_sites(files.sites)
    validated = validate_chunks(read_readings(files.readings, format="csv"))
    for what, result in (("villages", villages), ("sites", sites), ("readings", validated)):
        if result.rejected:
            logger.warning("demo %s: %s", what, result.rejected_by_reason)
    store.replace_region(
        read_communes(files.communes),
        villages.valid.reset_index(drop=True),
        sites.valid.drop(columns="cell_key").reset_index(drop=True),
    )
    store.clear_readings(origin="demo")
    store.add_readings(validated.valid, origin="demo")
    store.set_rasters(Rasters(dem=files.dem, population=files.population))
    logger.info("analysing the demo region")
    analyze_communes(store)
    store.set_demo(fingerprint, seed=seed)
    return True
