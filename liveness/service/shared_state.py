"""Where the service counts what must hold for the whole service: rate limits and the publish quota.

`memory://` counts in this process: right for one worker. `redis://HOST:PORT/DB` counts in a Redis
that every worker and replica shares, so a key gets one limit however many processes answer it.
A store that cannot be reached refuses, never admits: the caller answers 503 (StateUnavailable).
"""
import contextlib
import hashlib
import os
import threading
import urllib.parse
import uuid

from liveness.errors import LivenessError, one_line

MEMORY = "memory://"
SHARED_SCHEMES = ("redis", "rediss", "unix")
KEY_PREFIX = "liveness"
TIMEOUT_S = 1.0  # a Redis that hangs costs a request at most this long, then a 503


class StateUnavailable(Exception):
    """The shared store did not answer: whatever it had to count is refused, not waved through."""


def check_state_url(url):
    """`url` if it names a store this service can use, else a one-line LivenessError."""
    scheme = urllib.parse.urlsplit(url or "").scheme
    if url == MEMORY or scheme in SHARED_SCHEMES:
        return url
    raise LivenessError(f"--state takes {MEMORY} or redis://HOST:PORT/DB, got {url!r}")


def is_shared(url):
    return url != MEMORY


def safe_url(url):
    """The URL without its password, for log lines."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def redis_client(url, timeout=TIMEOUT_S):
    """A synchronous redis-py client that gives up after `timeout` seconds instead of hanging."""
    import redis

    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


def check_reachable(url):
    """At start-up: a one-line LivenessError unless the shared store answers."""
    if not is_shared(url):
        return
    import redis

    try:
        redis_client(url, timeout=2.0).ping()
    except (redis.RedisError, OSError) as error:
        raise LivenessError(f"the state store {safe_url(url)} is unreachable ({one_line(error)}): "
                            f"start Redis there, or fix --state") from None


class Outage:
    """Says once that the store is lost and once that it is back, however many requests notice in between."""

    def __init__(self, url):
        self.url, self.lost, self.lock = safe_url(url), False, threading.Lock()

    def failed(self, error):
        with self.lock:
            if not self.lost:
                self.lost = True
                print(f"[WARNING] the state store {self.url} is unreachable ({one_line(error)}): what it counts "
                      f"is refused (503) until it is back", flush=True)

    def answered(self):
        if self.lost:
            with self.lock:
                if self.lost:
                    self.lost = False
                    print(f"[INFO] the state store {self.url} answers again", flush=True)


class SharedState:
    """The async storage that `limits` counts rate limits in, for the service's event loop."""

    def __init__(self, url=MEMORY):
        from limits.aio.storage import MemoryStorage, RedisStorage

        self.url, self.shared = check_state_url(url), is_shared(url)
        self.outage = Outage(url)
        if self.shared:
            # redis-py's asyncio client (the `redis` package, already needed for the quota), not coredis
            self.storage = RedisStorage(f"async+{url}", implementation="redispy", key_prefix=KEY_PREFIX,
                                        wrap_exceptions=True, socket_timeout=TIMEOUT_S,
                                        socket_connect_timeout=TIMEOUT_S)
        else:
            self.storage = MemoryStorage()

    @contextlib.asynccontextmanager
    async def counting(self):
        """Runs one check against the store; a store that fails raises StateUnavailable."""
        try:
            yield
        except Exception as error:  # redis-py's, limits' StorageError, OSError, timeouts: all mean "not counted"
            self.outage.failed(error)
            raise StateUnavailable(str(error)) from None
        self.outage.answered()


class PublishQuota:
    """Bytes saved into one publish folder against its cap, counted where --state says.

    Called from the publish thread, so it is synchronous. Every process that shares the folder and the
    store shares the count: the folder carries an id (`.publish-id`), so replicas that mount it at
    different paths still meet on one counter. At start, and whenever the store has lost it, the count is set to
    what the folder holds.
    """

    ID_FILE = ".publish-id"
    COUNT_LOST = -2  # the reserve script's answer when the store holds no count

    def __init__(self, url, folder, max_bytes, count_on_disk):
        """`count_on_disk()`: the bytes the folder holds now; the shared count starts from it, and starts from it
        again whenever the store has lost the count (a Redis restarted empty, flushed, or evicting the key)."""
        self.max_bytes, self.shared, self.outage = max_bytes, is_shared(url), Outage(url)
        self.count_on_disk = count_on_disk
        self.lock, self.used = threading.Lock(), count_on_disk()
        if self.shared:
            import redis

            self.errors = (redis.RedisError, OSError)
            self.client = redis_client(url)
            self.key = f"{KEY_PREFIX}:publish:{self.folder_id(folder)}:bytes"
            self.reserve_script = self.client.register_script(
                "local used = redis.call('GET', KEYS[1]) "
                "if not used then return -2 end "
                "if tonumber(used) + tonumber(ARGV[1]) > tonumber(ARGV[2]) then return -1 end "
                "return redis.call('INCRBY', KEYS[1], ARGV[1])")
            try:
                self.client.set(self.key, self.used)
            except self.errors as error:
                raise LivenessError(f"the state store {safe_url(url)} is unreachable ({one_line(error)})") from None

    @classmethod
    def folder_id(cls, folder):
        """The folder's id, made once by whichever process gets there first."""
        path = os.path.join(folder, cls.ID_FILE)
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "w") as f:
                f.write(uuid.uuid4().hex + "\n")
        with open(path) as f:
            text = f.read().strip()
        return text or hashlib.sha256(os.path.realpath(folder).encode()).hexdigest()[:32]  # a half-written id

    def reserve(self, nbytes):
        """True if `nbytes` more fit under the cap (and are now counted); False if full or not countable."""
        if not self.shared:
            with self.lock:
                if self.used + nbytes > self.max_bytes:
                    return False
                self.used += nbytes
                return True
        try:
            answer = self.reserve_script(keys=[self.key], args=[int(nbytes), int(self.max_bytes)])
            if int(answer) == self.COUNT_LOST:
                # the first process to notice counts the folder; SET NX keeps a count another one put back meanwhile
                self.client.set(self.key, self.count_on_disk(), nx=True)
                print("[WARNING] the publish quota's count was missing from the state store; counted again from "
                      "the folder", flush=True)
                answer = self.reserve_script(keys=[self.key], args=[int(nbytes), int(self.max_bytes)])
        except self.errors as error:
            self.outage.failed(error)
            return False
        self.outage.answered()
        return int(answer) >= 0
