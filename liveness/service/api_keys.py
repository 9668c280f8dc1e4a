"""API keys for the service: who is asking, checked in constant time, stored as hashes.

A keys file holds one key per line, better its SHA-256 so the file leaks no
key, and optionally a name for it (the name, never the key, goes into logs,
metrics and the publish folder):

    # name is optional; without one a key is called key<line number>
    sha256:<the key's SHA-256 in 64 hex digits>                              door-kiosk
    a-raw-key-works-too-but-is-readable-by-whoever-reads-this-file          exam-app

Make a key and its line with:  python -m liveness.api_keys NAME

What looks like a mistake is refused at start-up, in one line: a hash without its lower-case `sha256:`
prefix (64 hex digits alone would otherwise work as a raw key, and the intended key would not), a
`sha256:` of other than 64 hex digits, `SHA256:` in upper case, and one key under two names.
"""
import argparse
import hashlib
import hmac
import re
import secrets

from liveness.errors import LivenessError

_HASH = re.compile(r"sha256:([0-9a-fA-F]{64})$")
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}$")


def digest(key):
    return hashlib.sha256(key.encode("utf-8")).digest()


class ApiKeys:
    """The accepted keys, as SHA-256 digests with their names."""

    def __init__(self, entries):
        self.entries = list(entries)  # [(digest bytes, name)]

    @classmethod
    def load(cls, path):
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise LivenessError(f"cannot read the API keys file {path}: {getattr(error, 'strerror', None) or error}") from None
        entries = []
        for number, line in enumerate(lines, start=1):
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            if len(fields) > 2:
                raise LivenessError(f"{path}, line {number}: expected a key (or sha256:<hex>) and an optional name")
            name = fields[1] if len(fields) == 2 else f"key{number}"
            if not _NAME.match(name):
                raise LivenessError(f"{path}, line {number}: a key name is 1-64 letters, digits, '.', '_' or '-'")
            match = _HASH.match(fields[0])
            if match:
                entries.append((bytes.fromhex(match.group(1)), name))
            elif re.fullmatch(r"[0-9a-fA-F]{64}", fields[0]):
                raise LivenessError(f"{path}, line {number}: 64 hex digits look like a SHA-256 without its prefix; "
                                    "write sha256:<hex> (or use a key that is not a hash)")
            elif fields[0].lower().startswith("sha256:"):
                raise LivenessError(f"{path}, line {number}: a hash is 'sha256:' in lower case and 64 hex digits")
            elif len(fields[0]) < 16:
                raise LivenessError(f"{path}, line {number}: a key shorter than 16 characters is too easy to guess")
            else:
                entries.append((digest(fields[0]), name))
        if not entries:
            raise LivenessError(f"the API keys file {path} holds no key")
        if len({name for _, name in entries}) != len(entries):
            raise LivenessError(f"the API keys file {path} names two keys alike")
        if len({stored for stored, _ in entries}) != len(entries):
            raise LivenessError(f"the API keys file {path} holds one key under two names")
        return cls(entries)

    def name_of(self, key):
        """The name of `key`, or None; every entry is compared, in constant time, whatever matches."""
        if not key:
            return None
        presented, found = digest(key), None
        for stored, name in self.entries:
            if hmac.compare_digest(stored, presented):
                found = name
        return found


def key_from_headers(headers):
    """The key a request presents: `Authorization: Bearer <key>` or `X-API-Key: <key>`."""
    authorization = headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return headers.get("x-api-key", "").strip() or None


def main():
    ap = argparse.ArgumentParser(description="Make a new API key and the line for the --api-keys file.")
    ap.add_argument("name", help="what the key is for (goes into logs and metrics)")
    args = ap.parse_args()
    if not _NAME.match(args.name):
        raise SystemExit("[ERROR] a key name is 1-64 letters, digits, '.', '_' or '-'")
    key = secrets.token_urlsafe(32)
    print(f"key (give it to the client, store it nowhere else): {key}")
    print(f"line for the --api-keys file: sha256:{digest(key).hex()} {args.name}")


if __name__ == "__main__":
    main()
