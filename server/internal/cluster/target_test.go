package cluster

import (
	"strings"
	"testing"
)

func TestParseRedisTakesSentinelURLsAndPasswordsApart(t *testing.T) {
	tg, err := ParseRedis("redis+sentinel://app:PW@10.0.0.1:26379,10.0.0.2:26380/mymaster?db=2", Passwords{Sentinel: "SPW"})
	if err != nil {
		t.Fatal(err)
	}
	fo := tg.failover
	if !tg.Sentinel() || fo.MasterName != "mymaster" || fo.DB != 2 || fo.Username != "app" || fo.Password != "PW" ||
		fo.SentinelPassword != "SPW" || strings.Join(fo.SentinelAddrs, " ") != "10.0.0.1:26379 10.0.0.2:26380" {
		t.Fatalf("parsed %+v", fo)
	}
	if fo.MaxRetries != -1 || fo.ReadTimeout != redisWait || !fo.ContextTimeoutEnabled || tg.PoolSize() != 16 || !tg.HasPassword() {
		t.Fatalf("timeouts and pool not set: %+v", fo)
	}
	tg, err = ParseRedis("redis+sentinel://10.0.0.1:26379/m", Passwords{Redis: "RPW"})
	if err != nil || tg.failover.Password != "RPW" || !tg.HasPassword() {
		t.Fatalf("the flag's password: %v %+v", err, tg.failover)
	}
	// Without a scheme and with redis://, as before.
	for _, u := range []string{"127.0.0.1:6379", "redis://127.0.0.1:6379/0"} {
		tg, err := ParseRedis(u, Passwords{Redis: "RPW"})
		if err != nil || tg.Sentinel() || tg.opt.Addr != "127.0.0.1:6379" || tg.opt.Password != "RPW" || tg.opt.MaxRetries != -1 {
			t.Fatalf("%s: %v %+v", u, err, tg.opt)
		}
	}
	for _, c := range []struct {
		url string
		pw  Passwords
		why string
	}{
		{"redis+sentinel://:SECRET@h:1/", Passwords{}, "primary's name"},
		{"redis+sentinel://:SECRET@h:1,h/m", Passwords{}, `Sentinel address "h"`},
		{"redis+sentinel://:SECRET@h:99999/m", Passwords{}, "bad port"},
		{"redis+sentinel://:SECRET@h:1/m", Passwords{Redis: "OTHER"}, "two passwords"},
		{"redis://:SECRET@h:1/0", Passwords{Sentinel: "OTHER"}, "for a redis+sentinel:// URL"},
		{"redis://:SECRET@h:x/0", Passwords{}, "h:x"},
	} {
		_, err := ParseRedis(c.url, c.pw)
		if err == nil || !strings.Contains(err.Error(), c.why) || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: %v, want an error saying %q without the password", c.url, err, c.why)
		}
	}
}

func TestParseRedisTakesClusterURLs(t *testing.T) {
	tg, err := ParseRedis("redis+cluster://app:PW@10.0.0.1:7001,10.0.0.2:7002?partitions=32", Passwords{})
	if err != nil {
		t.Fatal(err)
	}
	co := tg.cluster
	if !tg.Cluster() || tg.Sentinel() || tg.Partitions() != 32 || co.Username != "app" || co.Password != "PW" ||
		strings.Join(co.Addrs, " ") != "10.0.0.1:7001 10.0.0.2:7002" || co.MaxRetries != -1 || co.ReadTimeout != redisWait ||
		!co.ContextTimeoutEnabled || tg.PoolSize() != 16 || !tg.HasPassword() {
		t.Fatalf("parsed %+v", co)
	}
	tg, err = ParseRedis("redis+cluster://10.0.0.1:7001", Passwords{Redis: "RPW"})
	if err != nil || tg.cluster.Password != "RPW" || tg.Partitions() != defaultPartitions {
		t.Fatalf("the flag's password, the default partitions: %v %+v", err, tg.cluster)
	}
	for _, c := range []struct {
		url string
		pw  Passwords
		why string
	}{
		{"redis+cluster://:SECRET@h:1/0", Passwords{}, "no databases"},
		{"redis+cluster://:SECRET@h:1,h", Passwords{}, `cluster address "h"`},
		{"redis+cluster://:SECRET@h:0", Passwords{}, "bad port"},
		{"redis+cluster://:SECRET@h:1", Passwords{Redis: "OTHER"}, "two passwords"},
		{"redis+cluster://:SECRET@h:1", Passwords{Sentinel: "OTHER"}, "for a redis+sentinel:// URL"},
		{"redis+cluster://:SECRET@h:1?partitions=0", Passwords{}, "partitions: want 1 to 1024"},
		{"redis+cluster://:SECRET@h:1?db=1", Passwords{}, "unknown parameter"},
		{"redis+cluster://:SECRET@", Passwords{}, "no address"},
	} {
		_, err := ParseRedis(c.url, c.pw)
		if err == nil || !strings.Contains(err.Error(), c.why) || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: %v, want an error saying %q without the password", c.url, err, c.why)
		}
	}
}
