package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wspush/wspush/server/internal/auth"
)

// SchemeSentinel is the scheme of a --redis URL that names a primary
// behind Redis Sentinels: redis+sentinel://HOST:PORT[,HOST:PORT...]/MASTER[?db=N].
const SchemeSentinel = "redis+sentinel"

// SchemeCluster is the scheme of a --redis URL that names the seed
// addresses of a Redis Cluster: redis+cluster://HOST:PORT[,HOST:PORT...][?partitions=N].
const SchemeCluster = "redis+cluster"

// defaultPartitions is how many partitions the users and rooms are spread
// over on Redis Cluster (layout.go): each is a slot with its own position
// counter and one shard-channel connection per node.
const defaultPartitions = 64

// maxPartitions bounds ?partitions=: each costs every node a connection.
const maxPartitions = 1024

// Target is a parsed --redis: one redis-server (redis://, rediss://,
// unix://, or host:port without a scheme), or the primary a set of
// Sentinels names. The node asks the Sentinels where the primary is,
// connects to it, and asks again when it stops answering, so it follows
// a failover by itself (go-redis's FailoverClient).
type Target struct {
	opt      *redis.Options
	failover *redis.FailoverOptions
	cluster  *redis.ClusterOptions
	parts    int // Redis Cluster: the partitions (layout.go)
}

// Passwords are the passwords given apart from the URL (--redis-password,
// --redis-sentinel-password): neither shows in a URL that is printed.
type Passwords struct {
	Redis    string // the primary's (and a plain Redis's) AUTH password
	Sentinel string // the Sentinels' AUTH password
}

// ParseRedis parses a --redis URL with the passwords given apart, and sets
// the timeouts the cluster needs: no Redis call may hang a goroutine for
// long. Its errors never repeat a password.
func ParseRedis(raw string, pw Passwords) (Target, error) {
	fail := func(err error) (Target, error) {
		// Parser errors repeat the URL, password included.
		msg := auth.ScrubURLSecret(err.Error(), raw)
		if pw.Redis != "" {
			msg = strings.ReplaceAll(msg, pw.Redis, "redacted")
		}
		return Target{}, fmt.Errorf("server: --redis %q: %s", auth.RedactURL(raw), msg)
	}
	if strings.HasPrefix(raw, SchemeSentinel+"://") {
		fo, err := parseSentinel(raw, pw)
		if err != nil {
			return fail(err)
		}
		return Target{failover: fo}, nil
	}
	if strings.HasPrefix(raw, SchemeCluster+"://") {
		co, parts, err := parseCluster(raw, pw)
		if err != nil {
			return fail(err)
		}
		return Target{cluster: co, parts: parts}, nil
	}
	if !strings.Contains(raw, "://") {
		// host:port, as --redis took before it took URLs.
		raw = "redis://" + raw
	}
	opt, err := redis.ParseURL(raw)
	if err != nil {
		return fail(err)
	}
	if pw.Sentinel != "" {
		return fail(errors.New("--redis-sentinel-password is for a redis+sentinel:// URL"))
	}
	if pw.Redis != "" {
		if opt.Password != "" && opt.Password != pw.Redis {
			return fail(errors.New("the URL and --redis-password give two passwords: give one"))
		}
		opt.Password = pw.Redis
	}
	setTimeouts(&opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.PoolTimeout)
	opt.MaxRetries = -1
	opt.ContextTimeoutEnabled = true
	opt.PoolSize = max(opt.PoolSize, 16)
	return Target{opt: opt}, nil
}

// parseSentinel reads redis+sentinel://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]/MASTER[?db=N].
// The userinfo is the primary's (as in a redis:// URL); the Sentinels'
// password comes from --redis-sentinel-password or sentinel_password=.
func parseSentinel(raw string, pw Passwords) (*redis.FailoverOptions, error) {
	// Not url.Parse: it wants a port only on the last of the hosts.
	rest := strings.TrimPrefix(raw, SchemeSentinel+"://")
	rest, query, _ := strings.Cut(rest, "?")
	authority, path, _ := strings.Cut(rest, "/")
	fo := &redis.FailoverOptions{}
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		user, pass, _ := strings.Cut(authority[:i], ":")
		var err1, err2 error
		fo.Username, err1 = url.PathUnescape(user)
		fo.Password, err2 = url.PathUnescape(pass)
		if err1 != nil || err2 != nil {
			return nil, errors.New("the user or password is not %-escaped right")
		}
		authority = authority[i+1:]
	}
	if authority == "" {
		return nil, errors.New("no Sentinel address: want redis+sentinel://HOST:PORT[,HOST:PORT...]/MASTER_NAME")
	}
	for _, a := range strings.Split(authority, ",") {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" {
			return nil, fmt.Errorf("Sentinel address %q: want HOST:PORT", a)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("Sentinel address %q: bad port", a)
		}
		fo.SentinelAddrs = append(fo.SentinelAddrs, a)
	}
	fo.MasterName = strings.TrimSuffix(path, "/")
	if fo.MasterName == "" || strings.Contains(fo.MasterName, "/") {
		return nil, errors.New("want the primary's name as the path: redis+sentinel://HOST:PORT[,HOST:PORT...]/MASTER_NAME")
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, errors.New("the query is not a=b&c=d")
	}
	for k, v := range q {
		switch k {
		case "db":
			n, err := strconv.Atoi(v[0])
			if err != nil || n < 0 {
				return nil, errors.New("db: want a database number")
			}
			fo.DB = n
		case "sentinel_password":
			fo.SentinelPassword = v[0]
		default:
			return nil, fmt.Errorf("unknown parameter %q (redis+sentinel:// takes db and sentinel_password)", k)
		}
	}
	if pw.Redis != "" {
		if fo.Password != "" && fo.Password != pw.Redis {
			return nil, errors.New("the URL and --redis-password give two passwords: give one")
		}
		fo.Password = pw.Redis
	}
	if pw.Sentinel != "" {
		if fo.SentinelPassword != "" && fo.SentinelPassword != pw.Sentinel {
			return nil, errors.New("the URL and --redis-sentinel-password give two Sentinel passwords: give one")
		}
		fo.SentinelPassword = pw.Sentinel
	}
	setTimeouts(&fo.DialTimeout, &fo.ReadTimeout, &fo.WriteTimeout, &fo.PoolTimeout)
	fo.MaxRetries = -1
	fo.ContextTimeoutEnabled = true
	fo.PoolSize = 16
	return fo, nil
}

// parseCluster reads redis+cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...][?partitions=N]:
// the seed addresses of a Redis Cluster, from which go-redis learns the
// rest (CLUSTER SLOTS) and follows MOVED and ASK.
func parseCluster(raw string, pw Passwords) (*redis.ClusterOptions, int, error) {
	rest := strings.TrimPrefix(raw, SchemeCluster+"://")
	rest, query, _ := strings.Cut(rest, "?")
	authority, path, _ := strings.Cut(rest, "/")
	if path != "" {
		return nil, 0, errors.New("a Redis Cluster has no databases: want redis+cluster://HOST:PORT[,HOST:PORT...] without a path")
	}
	co := &redis.ClusterOptions{}
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		user, pass, _ := strings.Cut(authority[:i], ":")
		var err1, err2 error
		co.Username, err1 = url.PathUnescape(user)
		co.Password, err2 = url.PathUnescape(pass)
		if err1 != nil || err2 != nil {
			return nil, 0, errors.New("the user or password is not %-escaped right")
		}
		authority = authority[i+1:]
	}
	if authority == "" {
		return nil, 0, errors.New("no address: want redis+cluster://HOST:PORT[,HOST:PORT...]")
	}
	for _, a := range strings.Split(authority, ",") {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" {
			return nil, 0, fmt.Errorf("cluster address %q: want HOST:PORT", a)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return nil, 0, fmt.Errorf("cluster address %q: bad port", a)
		}
		co.Addrs = append(co.Addrs, a)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, 0, errors.New("the query is not a=b&c=d")
	}
	parts := defaultPartitions
	for k, v := range q {
		switch k {
		case "partitions":
			n, err := strconv.Atoi(v[0])
			if err != nil || n < 1 || n > maxPartitions {
				return nil, 0, fmt.Errorf("partitions: want 1 to %d", maxPartitions)
			}
			parts = n
		default:
			return nil, 0, fmt.Errorf("unknown parameter %q (redis+cluster:// takes partitions)", k)
		}
	}
	if pw.Sentinel != "" {
		return nil, 0, errors.New("--redis-sentinel-password is for a redis+sentinel:// URL")
	}
	if pw.Redis != "" {
		if co.Password != "" && co.Password != pw.Redis {
			return nil, 0, errors.New("the URL and --redis-password give two passwords: give one")
		}
		co.Password = pw.Redis
	}
	setTimeouts(&co.DialTimeout, &co.ReadTimeout, &co.WriteTimeout, &co.PoolTimeout)
	co.MaxRetries = -1
	co.ContextTimeoutEnabled = true
	co.PoolSize = 16 // per primary
	return co, parts, nil
}

// setTimeouts bounds every Redis call by redisWait. go-redis must not run
// a script again after a timeout (MaxRetries -1): the first run may still
// happen when Redis resumes (a message id guards against it too). Calls
// take their deadlines from their context.
func setTimeouts(dial, read, write, pool *time.Duration) {
	*dial, *read, *write, *pool = redisWait, redisWait, redisWait, redisWait/2
}

// Sentinel reports whether the target is a primary behind Sentinels.
func (t Target) Sentinel() bool { return t.failover != nil }

// Cluster reports whether the target is a Redis Cluster.
func (t Target) Cluster() bool { return t.cluster != nil }

// Partitions is how many partitions a Redis Cluster's users and rooms are
// spread over (?partitions=); 0 for any other target.
func (t Target) Partitions() int { return t.parts }

// PoolSize is how many connections the node may open to the primary.
func (t Target) PoolSize() int {
	switch {
	case t.failover != nil:
		return t.failover.PoolSize
	case t.cluster != nil:
		return t.cluster.PoolSize
	}
	return t.opt.PoolSize
}

// HasPassword reports whether the node authenticates to the primary.
func (t Target) HasPassword() bool {
	switch {
	case t.failover != nil:
		return t.failover.Password != ""
	case t.cluster != nil:
		return t.cluster.Password != ""
	}
	return t.opt.Password != ""
}

// client returns a client of the target, naming its connections name and
// running onConnect on each new one before anything else. A Redis
// Cluster's connections run no onConnect: its scripts check the epoch of
// their partition themselves (shards.go).
func (t Target) client(name string, onConnect func(ctx context.Context, cn *redis.Conn) error) redis.UniversalClient {
	if t.cluster != nil {
		co := *t.cluster
		co.ClientName = name
		return redis.NewClusterClient(&co)
	}
	if t.failover != nil {
		fo := *t.failover
		fo.ClientName = name
		fo.OnConnect = onConnect
		return redis.NewFailoverClient(&fo)
	}
	opt := *t.opt
	opt.ClientName = name
	opt.OnConnect = onConnect
	return redis.NewClient(&opt)
}
