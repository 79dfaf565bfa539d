"""The exporter's error."""


class UnsupportedModelError(Exception):
    """The model cannot be written as a format-2 graph.

    `module_path` is the qualified name of the module where the problem is (`""` for the
    root module), `op` the op, function or module type that cannot be translated.
    """

    def __init__(self, module_path: str, op: str, reason: str):
        self.module_path = module_path
        self.op = op
        self.reason = reason
        where = module_path if module_path else "<root>"
        super().__init__(f"cannot export '{op}' in module '{where}': {reason}")


class BatchAxisError(UnsupportedModelError):
    """The model moves, reduces, slices or mixes the batch axis (axis 0)."""
