"""Headless OpenGL on the CPU through Mesa's OSMesa, via ctypes (no PyOpenGL).

:class:`OSMesaLoader` creates one OSMesa core-profile context (GL 3.3+) bound to a
tiny private colour buffer (rendering happens in framebuffer objects, never in
that buffer) and resolves GL entry points with ``OSMesaGetProcAddress``. It
implements the loader protocol that ``moderngl.init_context(loader=...)``
expects: ``load_opengl_function(name)``, ``__enter__``/``__exit__`` (make this
context current) and ``release()``.

Requires ``libOSMesa.so.8`` (Debian/Ubuntu: ``apt-get install libosmesa6``).
"""
from __future__ import annotations

import ctypes
import ctypes.util

_LIB_NAMES = ("libOSMesa.so.8", "libOSMesa.so.6", "libOSMesa.so")

# OSMesa attribute tokens (GL/osmesa.h)
_OSMESA_FORMAT = 0x22
_OSMESA_DEPTH_BITS = 0x30
_OSMESA_STENCIL_BITS = 0x31
_OSMESA_ACCUM_BITS = 0x32
_OSMESA_PROFILE = 0x33
_OSMESA_CORE_PROFILE = 0x34
_OSMESA_CONTEXT_MAJOR_VERSION = 0x36
_OSMESA_CONTEXT_MINOR_VERSION = 0x37
_GL_RGBA = 0x1908
_GL_UNSIGNED_BYTE = 0x1401

_lib = None


class OSMesaUnavailable(RuntimeError):
    """libOSMesa is missing or refused to create a context."""


def load_library() -> ctypes.CDLL:
    """Load libOSMesa once per process; raises :class:`OSMesaUnavailable` with the apt hint."""
    global _lib
    if _lib is not None:
        return _lib
    names = list(_LIB_NAMES)
    found = ctypes.util.find_library("OSMesa")
    if found:
        names.append(found)
    errors = []
    for name in names:
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError as exc:  # try the next name
            errors.append(f"{name}: {exc}")
    else:
        raise OSMesaUnavailable(
            "libOSMesa not found (needed for headless CPU rendering); install it with "
            "`apt-get install libosmesa6`. Tried: " + "; ".join(errors))
    lib.OSMesaCreateContextAttribs.restype = ctypes.c_void_p
    lib.OSMesaCreateContextAttribs.argtypes = [ctypes.POINTER(ctypes.c_int), ctypes.c_void_p]
    lib.OSMesaMakeCurrent.restype = ctypes.c_ubyte
    lib.OSMesaMakeCurrent.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint,
                                      ctypes.c_int, ctypes.c_int]
    lib.OSMesaGetCurrentContext.restype = ctypes.c_void_p
    lib.OSMesaGetCurrentContext.argtypes = []
    lib.OSMesaDestroyContext.restype = None
    lib.OSMesaDestroyContext.argtypes = [ctypes.c_void_p]
    lib.OSMesaGetProcAddress.restype = ctypes.c_void_p
    lib.OSMesaGetProcAddress.argtypes = [ctypes.c_char_p]
    _lib = lib
    return lib


class OSMesaLoader:
    """One OSMesa GL context plus the function loader moderngl needs.

    gl_version: requested core-profile version (major, minor); moderngl needs >= 3.3.
    """

    _BUF_SIZE = 4  # the window-system buffer is unused (we render to FBOs)

    def __init__(self, gl_version: tuple[int, int] = (3, 3)):
        self._lib = load_library()
        attrs = (ctypes.c_int * 15)(
            _OSMESA_FORMAT, _GL_RGBA, _OSMESA_DEPTH_BITS, 24, _OSMESA_STENCIL_BITS, 0,
            _OSMESA_ACCUM_BITS, 0, _OSMESA_PROFILE, _OSMESA_CORE_PROFILE,
            _OSMESA_CONTEXT_MAJOR_VERSION, gl_version[0],
            _OSMESA_CONTEXT_MINOR_VERSION, gl_version[1], 0)
        self._ctx = self._lib.OSMesaCreateContextAttribs(attrs, None)
        if not self._ctx:
            raise OSMesaUnavailable(f"OSMesaCreateContextAttribs failed for GL {gl_version} core")
        self._buf = (ctypes.c_ubyte * (4 * self._BUF_SIZE * self._BUF_SIZE))()
        self.make_current()

    def make_current(self) -> None:
        """Bind this context to the calling thread (no-op when it already is)."""
        if self._ctx is None:
            raise RuntimeError("OSMesa context already released")
        if self._lib.OSMesaGetCurrentContext() != self._ctx:
            if not self._lib.OSMesaMakeCurrent(self._ctx, self._buf, _GL_UNSIGNED_BYTE,
                                               self._BUF_SIZE, self._BUF_SIZE):
                raise OSMesaUnavailable("OSMesaMakeCurrent failed")

    # --- moderngl loader protocol -------------------------------------------------
    def load_opengl_function(self, name: str) -> int:
        return self._lib.OSMesaGetProcAddress(name.encode("ascii")) or 0

    load = load_opengl_function

    def __enter__(self):
        self.make_current()
        return self

    def __exit__(self, *exc) -> None:
        return None

    def release(self) -> None:
        if self._ctx is not None:
            self._lib.OSMesaDestroyContext(self._ctx)
            self._ctx = None
