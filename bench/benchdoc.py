"""Writes a generated block of BENCHMARKS.md between its markers
`<!-- NAME:start -->` and `<!-- NAME:end -->` (appended when missing), for
the benchmarks' report scripts."""


def write_block(doc_path, name, lines):
    """Replaces the block `name` of the document with `lines` (without the
    markers) and prints it."""
    head, tail = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = "\n".join([head, *lines, tail])
    doc = open(doc_path).read()
    start, end = doc.find(head), doc.find(tail)
    if start >= 0 and end > start:
        doc = doc[:start] + block + doc[end + len(tail):]
    else:
        doc = doc.rstrip() + "\n\n" + block + "\n"
    open(doc_path, "w").write(doc)
    print(block)
