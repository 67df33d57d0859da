"""Checks that an HTML page binscan wrote is inert: strict UTF-8, only the elements binscan
emits, no event-handler attribute, no javascript: URL, exactly one <script> (binscan's own), and
none of `forbidden` (strings that only appear when a hostile value escaped its escaping).

usage: inert_html_check.py PAGE.html [FORBIDDEN...]   prints "ok" or the problems (exit 1)
"""
import sys
from html.parser import HTMLParser

ALLOWED = {
    "html", "head", "meta", "title", "style", "body", "h1", "h2", "div", "span", "table", "thead",
    "tbody", "tr", "th", "td", "p", "b", "br", "img", "ul", "li", "section", "script", "svg", "g",
    "circle", "line", "path", "text", "a", "rect", "polygon", "defs", "marker",
}


class Checker(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        if tag == "link" and dict(attrs) == {"rel": "icon", "href": "data:,"}:
            return  # the empty icon page_start writes
        if tag not in ALLOWED:
            self.problems.append(f"unexpected element <{tag}>")
        if tag == "script":
            self.scripts += 1
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"event handler {name} on <{tag}>")
            if name in ("href", "src") and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"javascript: URL in <{tag} {name}>")


def main():
    raw = open(sys.argv[1], "rb").read()
    try:
        text = raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError as e:
        print(f"not UTF-8: {e}")
        return 1
    c = Checker()
    c.feed(text)
    c.close()
    if c.scripts != 1:
        c.problems.append(f"{c.scripts} <script> elements, expected binscan's one")
    for bad in sys.argv[2:]:
        if bad in text:
            c.problems.append(f"raw {bad!r} in the page")
    if c.problems:
        print("\n".join(c.problems))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
