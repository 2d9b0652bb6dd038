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

// PreparedSQL lists the statements r keeps prepared.
func PreparedSQL(r *Reader) []string {
	if r.prep == nil {
		return nil
	}
	r.prep.mu.Lock()
	defer r.prep.mu.Unlock()
	var out []string
	for q := range r.prep.stmts {
		out = append(out, q)
	}
	return out
}
