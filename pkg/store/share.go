package store

import "hash/maphash"

// Sharing within a batch (batch.go, docs/adr/0017): which waiting rounds
// ask for the same rows (whole rounds: groupSame) and which branches of a
// batched statement rounds that differ can share (branchLayoutOf).

// groupSame groups calls by the rows they ask for (sameArgs), in order of
// first appearance; each group's first call is the one whose arguments
// the statement carries.
func groupSame(calls []*combinedCall) [][]*combinedCall {
	groups := make([][]*combinedCall, 0, len(calls))
next:
	for _, c := range calls {
		for i, g := range groups {
			if g[0].key == c.key && sameArgs(g[0].args, c.args) {
				groups[i] = append(g, c)
				continue next
			}
		}
		groups = append(groups, []*combinedCall{c})
	}
	return groups
}

// sameAsTaken reports whether c asks for the same rows as a round already
// in next.
func sameAsTaken(next []*batchWait, c *combinedCall) bool {
	for _, w := range next {
		if w.call.key == c.key && sameArgs(w.call.args, c.args) {
			return true
		}
	}
	return false
}

// argsSeed seeds argsKey for the life of the process.
var argsSeed = maphash.MakeSeed()

// argsKey hashes a call's flat arguments, so that calls asking for
// different rows are told apart without comparing their arguments one by
// one; equal keys are confirmed by sameArgs.
func argsKey(args []any) uint64 {
	var h maphash.Hash
	h.SetSeed(argsSeed)
	for _, a := range args {
		switch v := a.(type) {
		case string:
			h.WriteByte('s')
			h.WriteString(v)
		case int64:
			h.WriteByte('i')
			maphash.WriteComparable(&h, v)
		default:
			h.WriteByte('?') // compared by sameArgs
		}
		h.WriteByte(0)
	}
	return h.Sum64()
}

// sameArgs reports whether two calls of one shape (the same statement
// text) carry the same arguments, and so ask for the same rows. Only
// values compared exactly count as the same: any other type makes the
// calls different, which costs a branch, never a wrong answer.
func sameArgs(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameArg(a[i], b[i]) {
			return false
		}
	}
	return true
}

func sameArg(x, y any) bool {
	switch x := x.(type) {
	case string:
		return equalAs(x, y)
	case int64:
		return equalAs(x, y)
	case int:
		return equalAs(x, y)
	case bool:
		return equalAs(x, y)
	case nil:
		return y == nil
	}
	return false
}

// equalAs reports whether y is a T equal to x.
func equalAs[T comparable](x T, y any) bool {
	v, ok := y.(T)
	return ok && x == v
}

// branchLayout says which branch of a batched statement each round group
// reads for each statement of the shape. Branches go statement by
// statement (combinedSQL.batched): counts[j] branches of statement j,
// each carrying the arguments of group reps[j][k].
type branchLayout struct {
	counts []int
	reps   [][]int
	tag    [][]int // tag[i][j]: the tag of group i's statement j
	stmtOf []int   // the statement of each tag
	tags   int
}

// aloneLayout is the layout of one round alone: statement j is tag j.
func aloneLayout(per int) branchLayout {
	l := branchLayout{counts: make([]int, per), reps: make([][]int, per), tag: [][]int{make([]int, per)}, stmtOf: make([]int, per), tags: per}
	for j := range per {
		l.counts[j], l.reps[j], l.tag[0][j], l.stmtOf[j] = 1, []int{0}, j, j
	}
	return l
}

// fullLayout gives each of n groups a branch of every statement.
func fullLayout(n, per int) branchLayout {
	l := branchLayout{counts: make([]int, per), reps: make([][]int, per), tag: make([][]int, n), tags: n * per}
	for i := range n {
		l.tag[i] = make([]int, per)
	}
	for j := range per {
		l.counts[j] = n
		for i := range n {
			l.reps[j] = append(l.reps[j], i)
			l.tag[i][j] = j*n + i
			l.stmtOf = append(l.stmtOf, j)
		}
	}
	return l
}

// branchLayoutOf lays out groups (whole rounds already told apart by
// groupSame) so that groups whose statement j has the same arguments read
// one branch of it. flat is the shape's arguments per statement.
func branchLayoutOf(groups [][]*combinedCall, flat []int) branchLayout {
	per := len(flat)
	l := branchLayout{counts: make([]int, per), reps: make([][]int, per), tag: make([][]int, len(groups))}
	for i := range groups {
		l.tag[i] = make([]int, per)
	}
	off := 0
	for j, n := range flat {
		end := off + n
		for i, g := range groups {
			a, k := g[0].args[off:end], 0
			for ; k < len(l.reps[j]); k++ {
				if sameArgs(groups[l.reps[j][k]][0].args[off:end], a) {
					break
				}
			}
			if k == len(l.reps[j]) {
				l.reps[j] = append(l.reps[j], i)
				l.stmtOf = append(l.stmtOf, j)
			}
			l.tag[i][j] = l.tags + k
		}
		l.counts[j] = len(l.reps[j])
		l.tags += l.counts[j]
		off = end
	}
	return l
}

// args is the batched statement's arguments: for each statement, each of
// its branches' arguments, taken from the group the branch carries.
func (l branchLayout) args(groups [][]*combinedCall, flat []int) []any {
	out := make([]any, 0, len(groups[0][0].args)*len(groups))
	off := 0
	for j, n := range flat {
		for _, i := range l.reps[j] {
			out = append(out, groups[i][0].args[off:off+n]...)
		}
		off += n
	}
	return out
}
