package store

// SetBeforeWatch makes every Watch of s call f before it opens an etcd
// watch, with the revision the watch resumes after, so that tests can act
// (compact, say) at exactly that moment.
func SetBeforeWatch(s *Store, f func(rev int64)) { s.beforeWatch = f }

// SetBeforeCommit makes every Apply of s call f between reading the stored
// objects and committing its transaction, so that tests can write in
// between.
func SetBeforeCommit(s *Store, f func(attempt int)) { s.beforeCommit = f }
