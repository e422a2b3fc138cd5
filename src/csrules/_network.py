"""A model of durable_rules' alpha network, to keep compiled rulesets inside the C engine's limits.

Pure: it imports nothing from csrules and never calls durable_rules. Read in the 2.0.28 C source
(`rete.c` createAlpha/findAlpha, `events.c` handleAlpha) and confirmed by measurement:
- Patterns share one network. A comparison becomes a node under its parent; an existing child
  with the same property, operator and value is reused. `$and` chains its items; `$or` makes each
  alternative a branch from the same parent, all joining a fresh "forward" node.
- Matching a fact is a depth-first walk that pushes every matching child of each node it visits
  onto a stack of 64 entries; more fails the assert with error 303. Equality tests on one property
  with different values are exclusive, so at most one of them is pushed.
- Each `$and`/`$or` adds two entries to a rule's expression sequence, which holds fewer than 32
  (error 113 at creation).
- A node keeps its children in two fixed tables: a hash table of 512 slots (`NEXT_BUCKET_LENGTH`)
  for every test but `$nex`, and a list of 128 (`NEXT_LIST_LENGTH`) for `$nex` tests and forward
  nodes. Looking up a 513th distinct child in a full hash table never ends (`findAlpha` probes
  for an empty slot that is not there: `create_ruleset` spins, Ctrl-C cannot stop it); the list
  fails with an error, after reading past its end. A rule's pattern ends in a beta node listed at
  its last alpha node, in a list of 256 (`BETA_LIST_LENGTH`): a 257th rule of the same `when`
  fails with error 108. `widest()` says how full they get.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_BETAS", "MAX_GROUPS", "MAX_HASHED", "MAX_LISTED", "Network", "groups"]

MAX_GROUPS = 15  # `$and`/`$or` objects per pattern: 2 entries each in a sequence of fewer than 32
MAX_HASHED = 500  # distinct children of a node in its hash table of 512 (a 513th hangs the engine)
MAX_LISTED = 120  # `$nex` children and forward nodes of a node, in its list of 128
MAX_BETAS = 250  # rules whose pattern ends at one node, in its list of 256


class _Node:
    __slots__ = ("hashed", "listed")

    def __init__(self) -> None:
        self.hashed: dict[_Key, _Node] = {}  # tests that need the property
        self.listed: list[_Node] = []  # `$nex` tests and forward nodes: pushed when it is absent


_Key = tuple[str, str, tuple[str, Any]]  # operator, property, (value's type, value)


def _key(atom: dict[str, Any]) -> _Key:
    ((key, value),) = atom.items()
    if key.startswith("$"):
        ((name, operand),) = value.items()
        return key, name, (type(operand).__name__, operand)
    return "$eq", key, (type(value).__name__, value)  # the type tells `true` from `1` and `"1"` from `1`


class Network:
    """The alpha network of a set of patterns, and the deepest stack a fact can need in it."""

    def __init__(self) -> None:
        self._root = _Node()
        self._nex: dict[tuple[int, _Key], _Node] = {}
        # Each node's cost, kept across `add`s. An `add` changes only the nodes it visits (a new
        # pattern reaches old nodes only through the root, and forward nodes are never reached
        # again), so it forgets just those: `stack_bound` after each of n adds is not O(n^2).
        self._memo: dict[int, int] = {}
        self._widest = (0, 0)  # the most hashed and listed children of any node
        self._ends: dict[int, int] = {}  # rules whose pattern ends at a node, by the node's id
        self._betas = 0

    def widest(self) -> tuple[int, int, int]:
        """The most children any node has in its hash table and in its list, and the most rules
        ending at one node (see MAX_HASHED, MAX_LISTED, MAX_BETAS)."""
        return (*self._widest, self._betas)

    def _grew(self, node: _Node) -> None:
        hashed, listed = self._widest
        self._widest = (max(hashed, len(node.hashed)), max(listed, len(node.listed)))

    def add(self, pattern: dict[str, Any]) -> None:
        """Add one rule's pattern (the value under its alias, e.g. `{"$and": [...]}`)."""
        self._memo.pop(id(self._root), None)
        end = self._build(pattern, self._root)
        self._ends[id(end)] = count = self._ends.get(id(end), 0) + 1
        self._betas = max(self._betas, count)

    def _build(self, expr: dict[str, Any], parent: _Node) -> _Node:
        self._memo.pop(id(parent), None)
        if set(expr) == {"$and"}:
            node = parent
            for item in expr["$and"]:
                node = self._build(item, node)
            return node
        if set(expr) == {"$or"}:
            forward = _Node()
            for item in expr["$or"]:
                branch = self._build(item, parent)
                self._memo.pop(id(branch), None)
                branch.listed.append(forward)
                self._grew(branch)
            return forward
        key = _key(expr)
        if key[0] == "$nex":
            found = self._nex.get((id(parent), key))
            if found is None:
                found = self._nex[(id(parent), key)] = _Node()
                parent.listed.append(found)
                self._grew(parent)
            self._memo.pop(id(found), None)
            return found
        child = parent.hashed.setdefault(key, _Node())
        self._grew(parent)
        self._memo.pop(id(child), None)
        return child

    def stack_bound(self) -> int:
        """An upper bound of the matcher's stack for any fact: the largest sum, along a path from
        the root, of the children each node can push at once."""
        memo = self._memo
        # Children before their parent, without recursion: a rule of 400 comparisons is a chain
        # of 400 nodes.
        stack: list[tuple[_Node, bool]] = [(self._root, False)]
        while stack:
            node, ready = stack.pop()
            if id(node) in memo:
                continue
            children = [*node.hashed.values(), *node.listed]
            if not ready:
                stack.append((node, True))
                stack.extend((child, False) for child in children if id(child) not in memo)
                continue
            equal = {name for (op, name, _value) in node.hashed if op == "$eq"}
            others = sum(1 for (op, _name, _value) in node.hashed if op != "$eq")
            width = len(equal) + others + len(node.listed)
            memo[id(node)] = width + max((memo[id(child)] for child in children), default=0)
        return memo[id(self._root)]


def groups(expr: Any) -> int:
    """The `$and`/`$or` objects in a pattern."""
    if isinstance(expr, dict):
        own = 1 if set(expr) & {"$and", "$or"} else 0
        return own + sum(groups(v) for v in expr.values())
    if isinstance(expr, list):
        return sum(groups(v) for v in expr)
    return 0
