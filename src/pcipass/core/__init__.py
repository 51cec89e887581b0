"""The pure core: values in, decisions out. No files, sockets, SQL, environment or clock."""
