"""Reads what the packer checks need from packer's HCL files, as text: `keyword "LABEL" ... { body }`
blocks and simple `name = value` attributes. Imported by check-boot-command.py and
provision-dry-run.py (no HCL parser is installed, and these files stay simple)."""
import re


def blocks(text, keyword):
    """Each `keyword "LABEL" ... { body }` in text: (label, body), in order (nested braces kept)."""
    for m in re.finditer(r'^\s*' + keyword + r'\s+"([^"]+)"[^{\n]*\{', text, re.M):
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        yield m.group(1), text[m.end():i - 1]


def strings(body, name):
    """The strings of `name = [ "a", "b" ]`, or None."""
    m = re.search(r"^\s*" + re.escape(name) + r"\s*=\s*\[(.*?)\]", body, re.M | re.S)
    return re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1)) if m else None


def value(body, name):
    """`name = "text"` (the text), `name = [ ... ]` (its strings joined), `name = word`, or None."""
    m = re.search(r"^\s*" + re.escape(name) + r"\s*=\s*(\[.*?\]|\"[^\"]*\"|[\w.]+)", body, re.M | re.S)
    if not m:
        return None
    raw = m.group(1)
    if raw.startswith("["):
        return "".join(re.findall(r"\"((?:[^\"\\]|\\.)*)\"", raw))
    return raw.strip('"')
