"""Schemas: the compiled spec, the registry of shipped entities, and how requests extend them."""
