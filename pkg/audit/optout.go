package audit

// OptedOut is notifications._check_notification_opt_out: an event whose
// type is listed in [DEFAULT] notification_opt_out is not sent; for
// identity.authenticate the outcome is appended first
// (identity.authenticate.success, identity.authenticate.failure), so that
// successes and failures can be opted out of separately. Python's default
// list names "identity.authenticate.failed", which no event matches: by
// default failed logins are sent and successful ones are not.
func OptedOut(n Notification, optOut []string) bool {
	et := n.EventType
	if n.EventType == EventAuthenticate {
		et += "." + n.Outcome
	}
	for _, o := range optOut {
		if o == et {
			return true
		}
	}
	return false
}
