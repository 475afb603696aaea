package server

import (
	"context"
	"encoding/json"
	"errors"
)

type cluster struct{}

type clusterMsg struct {
	kind, room, from string
	data             json.RawMessage
}

func redisOptions(string) (struct{}, error) {
	return struct{}{}, errors.New("server: --redis: not in this build yet")
}
func newCluster(*Server) *cluster                                    { return nil }
func (cl *cluster) start()                                           {}
func (cl *cluster) close()                                           {}
func (cl *cluster) history() bool                                    { return false }
func (cl *cluster) note(string, int)                                 {}
func (cl *cluster) presence(string) (Presence, error)                { return Presence{}, nil }
func (cl *cluster) resume(*conn, string, []streamPos, []byte)        {}
func (cl *cluster) publish(context.Context, clusterMsg) (int, error) { return 0, nil }
func (cl *cluster) push(context.Context, []string, json.RawMessage, string) (PushResult, error) {
	return PushResult{}, nil
}
