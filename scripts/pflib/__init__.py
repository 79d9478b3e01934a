"""plugfault's own tooling: fetching, tree assembly, guest images,
scenarios."""
