# The prelude of every Python twin: the harness runs it before the program, which finds
# its host's address in HOST.
import errno
import socket
import sys

HOST = sys.argv[1]


def attempt(f, *args, **kwargs):
    """What f(*args, **kwargs) gave, as the lab's attempt() shows it: the repr of its
    result, or the name of what it raised (an errno's name, timeout, gaierror, TypeError)."""
    try:
        return repr(f(*args, **kwargs))
    except socket.gaierror:
        return "gaierror"
    except OSError as e:
        if e.errno is None:
            return "timeout" if isinstance(e, TimeoutError) else type(e).__name__
        return errno.errorcode.get(e.errno, str(e.errno))
    except Exception as e:
        return type(e).__name__
