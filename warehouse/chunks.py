"""Read a raw batch file in bounded-size chunks (issue 19: bounded memory on ingest).

``warehouse.landing.read_batch`` reads the whole file into memory (bytes, then text, then a
DataFrame); at 10x the real orders file that costs several GB. ``iter_chunks`` yields the same
rows, in order, as DataFrames of at most ``chunk_rows`` rows, holding one chunk at a time:
Parquet through pyarrow ``iter_batches``, CSV through ``pandas.read_csv(chunksize=...)``. The
checks ``read_batch`` makes on the whole text (valid UTF-8, not truncated mid-line) run first,
streaming over the file in fixed-size blocks, so a bad file is refused with the same message
before any chunk is yielded.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from warehouse.landing import UnreadableBatch, _check_not_truncated, _file_kind, _not_parquet

#: bytes read at a time by the streaming checks
_BLOCK = 1 << 20


def count_rows(path: Path) -> int:
    """Data rows in the file, cheaply: Parquet metadata, or newline count for CSV.

    For CSV this is an upper bound (quoted fields may hold newlines); it only decides
    whether a file is big enough to be read in chunks.
    """
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        try:
            return int(pq.ParquetFile(path).metadata.num_rows)
        except Exception as err:  # pyarrow raises several types for broken files
            raise _not_parquet(path, err) from err
    lines = 0
    last = b"\n"
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            lines += block.count(b"\n")
            last = block[-1:]
    lines += last != b"\n"  # a final line without newline
    return max(lines - 1, 0)


def check_utf8_streaming(path: Path) -> None:
    """Refuse a file that is not UTF-8, naming the first bad byte and its line.

    Same message as ``landing._utf8``, without holding the file in memory.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as err:
                at = line + block[: err.start].count(b"\n")
                raise UnreadableBatch(
                    f"{path.name} is not valid UTF-8: byte 0x{block[err.start]:02x} at line {at}; "
                    "re-export it as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
                ) from err
            line += block.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as err:
            raise UnreadableBatch(
                f"{path.name} is not valid UTF-8: it ends inside a multi-byte character at line "
                f"{line}; re-export it as UTF-8"
            ) from err


def check_not_truncated_streaming(path: Path) -> None:
    """``landing._check_not_truncated`` on the header and the file's last line only."""
    with path.open("rb") as handle:
        header = handle.readline()
        handle.seek(0, 2)
        size = handle.tell()
        tail_start = max(size - _BLOCK, len(header))
        handle.seek(tail_start)
        tail = handle.read()
    if not tail or tail.endswith((b"\n", b"\r")):
        return
    last = tail.rsplit(b"\n", 1)[-1] if b"\n" in tail else tail
    # The line number in the message is counted only when the file really is refused.
    probe = header.decode("utf-8-sig") + last.decode("utf-8", errors="replace")
    try:
        _check_not_truncated(path, probe)
    except UnreadableBatch:
        lines = count_rows(path) + 1
        raise UnreadableBatch(
            f"{path.name} looks truncated: its last line ({lines}) ends without a newline "
            f"and has fewer fields than the header: {last[:80].decode('utf-8', 'replace')!r}"
        ) from None


def iter_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The file's rows in order, as DataFrames of at most ``chunk_rows`` rows.

    CSV columns are strings (as ``read_batch``); Parquet keeps its types. Raises
    ``UnreadableBatch`` for an empty, non-UTF-8, truncated or malformed file.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    with path.open("rb") as handle:
        head = handle.read(_BLOCK)
    kind = _file_kind(path, head if head.strip() else b"")
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(path)
        except Exception as err:  # pyarrow raises several types for broken files
            raise _not_parquet(path, err) from err
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()
        return
    check_utf8_streaming(path)
    check_not_truncated_streaming(path)
    try:
        reader = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            on_bad_lines="error",
            encoding="utf-8-sig",
            chunksize=chunk_rows,
        )
        with reader:
            yield from reader
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise UnreadableBatch(f"{path.name} is not a well-formed CSV file: {err}") from err
