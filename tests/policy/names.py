"""What the names in a package's modules refer to, found by walking their ASTs: every
expression is resolved to the fully qualified names it may stand for, through
``import x as y``, ``from x import y [as z]``, relative imports, assignments
(``runner = subprocess.run``), ``getattr(x, 'name')``, ``importlib.import_module(...)``
and ``__import__(...)`` (of a constant, or of a loop variable over literal values), and
imports of imports (``from inject.image import subprocess``: what ``inject.image``
binds that name to). Scopes are merged: a name bound differently in two places may
stand for either, so the checks built on this err on the side of finding too much.

The policy tests use it to check properties (which functions are called, which
modules are reached), not import statements' spelling.
"""

import ast
import builtins
import dataclasses
import pathlib

_DYNAMIC_IMPORTS = {'importlib.import_module', 'builtins.__import__'}


@dataclasses.dataclass
class Module:
    name: str
    path: pathlib.Path
    tree: ast.Module
    package: str
    bindings: dict = dataclasses.field(default_factory=dict)   # name -> set of names
    parents: dict = dataclasses.field(default_factory=dict)    # node -> parent node


class Package:
    """The modules of the package ``name`` under ``root`` (``root/name/...``)."""

    def __init__(self, root, name):
        self.root = pathlib.Path(root)
        self.modules = {}
        for path in sorted((self.root / name).rglob('*.py')):
            parts = list(path.relative_to(self.root).with_suffix('').parts)
            is_package = parts[-1] == '__init__'
            if is_package:
                parts = parts[:-1]
            module_name = '.'.join(parts)
            tree = ast.parse(path.read_text(), filename=str(path))
            package = module_name if is_package else module_name.rpartition('.')[0]
            module = Module(module_name, path, tree, package)
            for parent in ast.walk(tree):
                for child in ast.iter_child_nodes(parent):
                    module.parents[child] = parent
            self.modules[module_name] = module
        for _ in range(3):          # assignments may name what is bound further down
            for module in self.modules.values():
                self._bind(module)

    # --- bindings -------------------------------------------------------------------

    def _bind(self, module):
        def add(name, targets):
            module.bindings.setdefault(name, set()).update(targets)
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        add(alias.asname, {alias.name})
                    else:
                        top = alias.name.split('.')[0]
                        add(top, {top})
            elif isinstance(node, ast.ImportFrom):
                base = self._absolute(module, node)
                for alias in node.names:
                    add(alias.asname or alias.name, {'%s.%s' % (base, alias.name)})
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                value = node.value
                if value is None:
                    continue
                found = self.resolve(module, value)
                for target in targets:
                    if isinstance(target, ast.Name) and found:
                        add(target.id, found)
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if isinstance(item.optional_vars, ast.Name):
                        found = self.resolve(module, item.context_expr)
                        if found:
                            add(item.optional_vars.id, found)

    @staticmethod
    def _absolute(module, node):
        """The module an ``ImportFrom`` names, relative imports made absolute."""
        if not node.level:
            return node.module
        parts = module.package.split('.')
        base = parts[:len(parts) - (node.level - 1)]
        return '.'.join(base + ([node.module] if node.module else []))

    # --- resolution -----------------------------------------------------------------

    def resolve(self, module, node):
        """The set of qualified names ``node`` (an expression of ``module``) may stand
        for; empty when it stands for none that can be told."""
        if isinstance(node, ast.Name):
            if node.id in module.bindings:
                return self._expand(module.bindings[node.id])
            if hasattr(builtins, node.id):
                return {'builtins.' + node.id}
            return set()
        if isinstance(node, ast.Attribute):
            return {name for base in self.resolve(module, node.value)
                    for name in self._member(base, node.attr)}
        if isinstance(node, ast.Call):
            called = self.resolve(module, node.func)
            if called & _DYNAMIC_IMPORTS and node.args:
                return {name for name in self.constants(module, node.args[0])
                        if isinstance(name, str)}
            if 'builtins.getattr' in called and len(node.args) >= 2:
                return {name for base in self.resolve(module, node.args[0])
                        for attr in self.constants(module, node.args[1])
                        if isinstance(attr, str)
                        for name in self._member(base, attr)}
        return set()

    def _member(self, base, attr):
        """What ``base.attr`` is: the dotted name, and what it names through the
        package's own modules (see :meth:`_expand`)."""
        return self._expand({'%s.%s' % (base, attr)})

    def _expand(self, names):
        """``names`` and what each names through a module of this package: ``x.y``
        where module ``x`` binds ``y`` (``from inject.image import subprocess`` names
        what inject.image's ``subprocess`` is), to a fixed point."""
        found = set(names)
        todo = list(found)
        while todo:
            owner, _, last = todo.pop().rpartition('.')
            module = self.modules.get(owner)
            if module is None:
                continue
            for name in module.bindings.get(last, ()):
                if name not in found:
                    found.add(name)
                    todo.append(name)
        return found

    def constants(self, module, node):
        """The values ``node`` may have: a constant, or a loop variable over a literal
        (``for name, x in (('a', 1), ('b', 2))``); empty when unknown."""
        if isinstance(node, ast.Constant):
            return {node.value}
        if not isinstance(node, ast.Name):
            return set()
        values = set()
        for loop in ast.walk(module.tree):
            if not isinstance(loop, (ast.For, ast.comprehension)):
                continue
            try:
                items = ast.literal_eval(loop.iter)
            except ValueError:
                continue
            position = _position(loop.target, node.id)
            if position is None:
                continue
            for item in items:
                value = item
                for index in position:
                    value = value[index]
                values.add(value)
        return values

    # --- walking --------------------------------------------------------------------

    def references(self, module):
        """``(node, qualified names)`` of every expression of ``module`` that is read
        (not the bases of longer attribute chains, not annotations)."""
        annotations = set()
        for node in ast.walk(module.tree):
            for annotation in _annotations(node):
                annotations.update(id(n) for n in ast.walk(annotation))
        for node in ast.walk(module.tree):
            if id(node) in annotations:
                continue
            if isinstance(node, (ast.Name, ast.Attribute)) and isinstance(
                    node.ctx, ast.Load):
                parent = module.parents.get(node)
                if isinstance(parent, ast.Attribute) and parent.value is node:
                    continue
                yield node, self.resolve(module, node)
            elif isinstance(node, ast.Call):
                found = self.resolve(module, node)
                if found:
                    yield node, found

    def imported(self, module):
        """Every module ``module`` imports or loads: import statements (relative ones
        made absolute, ``from x import y`` as x and x.y) and dynamic imports."""
        names = set()
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = self._absolute(module, node)
                names.add(base)
                names |= {'%s.%s' % (base, alias.name) for alias in node.names}
            elif isinstance(node, ast.Call):
                if self.resolve(module, node.func) & _DYNAMIC_IMPORTS:
                    names |= self.resolve(module, node)
        return names


def _position(target, name):
    """Indexes of ``name`` in a loop target (``()`` for the target itself)."""
    if isinstance(target, ast.Name):
        return () if target.id == name else None
    if isinstance(target, ast.Tuple):
        for index, element in enumerate(target.elts):
            inner = _position(element, name)
            if inner is not None:
                return (index,) + inner
    return None


def _annotations(node):
    if isinstance(node, ast.AnnAssign):
        yield node.annotation
    elif isinstance(node, ast.arg) and node.annotation is not None:
        yield node.annotation
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns:
        yield node.returns


def within(name, prefixes):
    """Whether the dotted ``name`` is one of ``prefixes`` or inside one."""
    return any(name == p or name.startswith(p + '.') for p in prefixes)
