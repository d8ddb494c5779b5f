"""`@lean_dataclass`: what `@dataclass` gives the classes a call's AGI process uses (an
`__init__` from the annotated fields and their defaults, `__repr__`, `__eq__`,
`frozen=True`), without importing dataclasses: with `inspect` and what that pulls in, it
costs every per-call script about 15 ms of CPU, a third of its start.
Type checkers see `dataclass` itself.

Only plain fields with plain defaults: classes that need more stay dataclasses.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import dataclass as lean_dataclass
else:
    def lean_dataclass(cls=None, /, *, frozen=False):
        """`@lean_dataclass` or `@lean_dataclass(frozen=True)`, as `@dataclass` is used."""
        if cls is None:
            return lambda c: _make(c, frozen)
        return _make(cls, frozen)


def _make(cls: type, frozen: bool) -> type:
    names = tuple(cls.__annotations__)
    defaults = {name: cls.__dict__[name] for name in names if name in cls.__dict__}
    setter = object.__setattr__

    def __init__(self, *args: object, **kwargs: object) -> None:
        if len(args) > len(names):
            raise TypeError(f"{cls.__name__}() takes {len(names)} arguments, not {len(args)}")
        values = dict(zip(names, args))
        for name, value in kwargs.items():
            if name not in names or name in values:
                raise TypeError(f"{cls.__name__}() got an unexpected or repeated {name!r}")
            values[name] = value
        for name in names:
            if name in values:
                setter(self, name, values[name])
            elif name in defaults:
                setter(self, name, defaults[name])
            else:
                raise TypeError(f"{cls.__name__}() missing argument {name!r}")

    def fields(self: object) -> tuple:
        return tuple(getattr(self, name) for name in names)

    def __repr__(self: object) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in zip(names, fields(self)))
        return f"{cls.__name__}({shown})"

    def __eq__(self: object, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return fields(self) == fields(other)

    cls.__init__, cls.__repr__, cls.__eq__ = __init__, __repr__, __eq__
    if frozen:
        def __setattr__(self: object, name: str, value: object) -> None:
            raise AttributeError(f"cannot assign to field {name!r} of a frozen {cls.__name__}")
        cls.__setattr__ = __setattr__
        cls.__hash__ = lambda self: hash(fields(self))
    else:
        cls.__hash__ = None
    return cls
