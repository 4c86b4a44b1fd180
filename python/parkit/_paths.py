# Where libparkit.so.0 was installed; filled in by make install.
LIBDIR = None
