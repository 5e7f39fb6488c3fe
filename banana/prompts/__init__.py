"""What a person asks for, turned into the prompt kie receives: the `/banana` parser, the prompt studio's catalog
(data files) and its builders. Pure functions over `banana.domain`; nothing here does I/O beyond reading the catalog."""
