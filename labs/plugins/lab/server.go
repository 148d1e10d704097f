package lab

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pluginv1 "github.com/socklab/socklab/proto/socklab/plugin/v1"
)

// grpcPlugin is the go-plugin plugin of a lab: it serves LabService.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	spec Spec
	fn   func(*T)
}

// GRPCServer serves the lab's LabService on s.
func (p *grpcPlugin) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	pluginv1.RegisterLabServiceServer(s, &server{spec: p.spec, fn: p.fn, broker: broker})
	return nil
}

// GRPCClient is the controller's side, which this package does not hold.
func (p *grpcPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("the lab SDK serves labs: the controller's side is controller/plugin")
}

// server implements LabService for one lab.
type server struct {
	pluginv1.UnimplementedLabServiceServer
	spec   Spec
	fn     func(*T)
	broker *plugin.GRPCBroker
}

var _ pluginv1.LabServiceServer = (*server)(nil)

// Describe returns the lab's declaration.
func (s *server) Describe(context.Context, *pluginv1.DescribeRequest) (*pluginv1.DescribeResponse, error) {
	l := &pluginv1.LabSpec{Name: s.spec.Name, Summary: s.spec.Summary, Doc: s.spec.Doc, Hosts: s.spec.Hosts,
		Topologies: s.spec.Topologies, TimeoutSeconds: s.spec.Timeout.Seconds(), WatchdogSeconds: s.spec.Watchdog.Seconds()}
	for _, p := range s.spec.Params {
		v, err := toValue(p.Default)
		if err != nil {
			return nil, fmt.Errorf("param %s: %w", p.Name, err)
		}
		l.Params = append(l.Params, &pluginv1.Param{Name: p.Name, DefaultValue: v})
	}
	for _, c := range s.spec.Checks {
		l.Checks = append(l.Checks, &pluginv1.CheckSpec{Id: c.ID, Description: c.Description, Points: int32(c.Points)})
	}
	return &pluginv1.DescribeResponse{Lab: l}, nil
}

// Run runs the lab once, acting through the controller's LabHostService.
func (s *server) Run(req *pluginv1.RunRequest, stream pluginv1.LabService_RunServer) error {
	conn, err := s.broker.Dial(req.GetHostServiceId())
	if err != nil {
		return fmt.Errorf("dial the controller's host service: %w", err)
	}
	defer conn.Close()
	if err := stream.Send(&pluginv1.RunResponse{Msg: &pluginv1.RunResponse_Started{Started: &pluginv1.RunStarted{}}}); err != nil {
		return err
	}
	t := newT(stream.Context(), pluginv1.NewLabHostServiceClient(conn), s.spec, req)
	failure := t.run(s.fn)
	return stream.Send(&pluginv1.RunResponse{Msg: &pluginv1.RunResponse_Finished{Finished: &pluginv1.RunFinished{Failure: failure}}})
}

// toValue is a parameter's default as the protocol sends it.
func toValue(v any) (*pluginv1.Value, error) {
	switch v := v.(type) {
	case int:
		return &pluginv1.Value{Kind: &pluginv1.Value_IntValue{IntValue: int64(v)}}, nil
	case int64:
		return &pluginv1.Value{Kind: &pluginv1.Value_IntValue{IntValue: v}}, nil
	case float64:
		return &pluginv1.Value{Kind: &pluginv1.Value_FloatValue{FloatValue: v}}, nil
	case bool:
		return &pluginv1.Value{Kind: &pluginv1.Value_BoolValue{BoolValue: v}}, nil
	case string:
		return &pluginv1.Value{Kind: &pluginv1.Value_StringValue{StringValue: v}}, nil
	case []byte:
		return &pluginv1.Value{Kind: &pluginv1.Value_BytesValue{BytesValue: v}}, nil
	}
	return nil, fmt.Errorf("default %v (%T): want an int, int64, float64, bool, string or []byte", v, v)
}
