"""Container healthcheck: exit 0 when every URL given answers HTTP 2xx within 5 seconds.

The image has no curl; the interpreter it ships is enough. Usage: python healthcheck.py URL...
"""

import sys
import urllib.request


def main(urls: list[str]) -> int:
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if not 200 <= response.status < 300:
                    print(f"{url}: HTTP {response.status}", file=sys.stderr)
                    return 1
        except Exception as exc:
            print(f"{url}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]) if len(sys.argv) > 1 else 2)
