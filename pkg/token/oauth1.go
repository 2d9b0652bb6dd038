package token

// msgAccessTokenNotFound is the 404 message of an OAuth1-scoped token whose
// access token is gone (deleted, or removed with its consumer). Python's
// TokenModel reads the access token while computing roles, and the SQL
// OAuth1 driver raises exception.NotFound(_('Access token not found')):
// a literal message, unlike the "Could not find <thing>: <id>." format of
// the other lookups.
const msgAccessTokenNotFound = "Access token not found"
