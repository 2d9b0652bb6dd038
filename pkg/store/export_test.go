package store

// PreparedStatements reports how many statements r keeps prepared.
func PreparedStatements(r *Reader) int {
	if r.prep == nil {
		return 0
	}
	r.prep.mu.Lock()
	defer r.prep.mu.Unlock()
	return len(r.prep.stmts)
}
