"""The changed window of two texts: everything between their common prefix and suffix.

Analyzers look only at tokens overlapping this window, so the cost of a small
edit does not grow with the size of the file. The comparisons run on slices, in C.
"""


def common_prefix(a: bytes, b: bytes) -> int:
    low, high = 0, min(len(a), len(b))
    while low < high:  # binary search on slice equality
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low


def changed_windows(a: bytes, b: bytes) -> tuple[tuple[int, int], tuple[int, int]]:
    """Byte ranges [start, end) of the changed part in ``a`` and in ``b``."""
    start = common_prefix(a, b)
    suffix = common_prefix(a[start:][::-1], b[start:][::-1])
    return (start, len(a) - suffix), (start, len(b) - suffix)
