"""Stage 0 for corpora published as OpenSLR archives: skip when the corpus is already in place, else
fetch (resumable, verified) and unpack each archive, then check the layout the corpus module expects."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

# (file name, md5 or None, size in bytes or None) of one archive of an OpenSLR resource.
Archive = tuple[str, "str | None", "int | None"]
LayoutCheck = Callable[[Path], list[str]]


def require_layout(name: str, corpus_dir: Path, check_layout: LayoutCheck) -> None:
    """Raise FileNotFoundError in one sentence when ``corpus_dir`` does not hold the extracted corpus."""
    missing = check_layout(corpus_dir)
    if missing:
        raise FileNotFoundError(
            f"{corpus_dir} does not hold a complete {name} corpus (missing: {', '.join(missing[:5])}); "
            "run stage 0 to download it, or point --corpus-dir at the extracted corpus.")


def fetch_and_extract(name: str, corpus_dir: Path, config: dict, resource: int, archives: list[Archive],
                      check_layout: LayoutCheck, after_extract: Callable[[Path], None] | None = None) -> None:
    """Download and unpack OpenSLR resource ``resource`` into ``corpus_dir`` unless its layout is complete.

    Archives are kept in ``corpus_dir`` (a rerun neither downloads nor unpacks them again);
    ``after_extract`` finishes corpus-specific unpacking (inner archives). A missing or corrupt archive,
    or a layout still incomplete afterwards, ends in one DownloadError that says what to do.
    """
    from asrt.corpora.download import DownloadError, extract, fetch, mirror_from_config, openslr_url

    corpus_dir = Path(corpus_dir)
    missing = check_layout(corpus_dir)
    if not missing:
        logging.info("%s already holds the %s corpus; nothing to download", corpus_dir, name)
        return
    incomplete = corpus_dir.exists() and any(corpus_dir.iterdir())
    if incomplete:
        logging.warning("%s holds an incomplete %s corpus (missing: %s); downloading it", corpus_dir, name,
                        ", ".join(missing[:5]))
    mirror = mirror_from_config(config)
    for file_name, md5, size in archives:
        try:
            path = fetch(openslr_url(resource, file_name, mirror), corpus_dir / file_name, md5)
        except DownloadError as e:
            if not incomplete:
                raise
            raise DownloadError(f"{corpus_dir} holds an incomplete {name} corpus (missing: "
                                f"{', '.join(missing[:5])}) and stage 0 could not complete it: {e}") from None
        if size is not None and path.stat().st_size != size:
            got = path.stat().st_size
            path.unlink()
            raise DownloadError(f"{file_name} has {got} bytes where OpenSLR's has {size}; it was deleted, "
                                "rerun stage 0 to fetch it again.")
        extract(path, corpus_dir, progress=True)
    if after_extract is not None:
        after_extract(corpus_dir)
    missing = check_layout(corpus_dir)
    if missing:
        raise DownloadError(
            f"{corpus_dir} is still incomplete after unpacking {', '.join(a[0] for a in archives)} (missing: "
            f"{', '.join(missing[:5])}); delete the partial corpus and its .*.extracted markers there and rerun "
            "stage 0.")
    logging.info("%s corpus ready in %s", name, corpus_dir)
