package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/olbot/olbot/engine"
)

// Get returns the value stored under ns/key, or engine.ErrNotFound.
func (s *Store) Get(ctx context.Context, ns, key string) ([]byte, error) {
	if engine.CheckKV(ns, key) != nil {
		return nil, fmt.Errorf("get %s/%s: %w", ns, key, engine.ErrNotFound)
	}
	var v []byte
	err := s.with(ctx, func(c *pgx.Conn) error { return c.QueryRow(ctx, s.q.get, ns, key).Scan(&v) })
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("get %s/%s: %w", ns, key, engine.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("get %s/%s: %w", ns, key, err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// Put stores value under ns/key, for every replica, or returns
// engine.ErrInvalid for a namespace or key engine.CheckKV refuses.
func (s *Store) Put(ctx context.Context, ns, key string, value []byte) error {
	if err := engine.CheckKV(ns, key); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	if value == nil {
		value = []byte{}
	}
	err := s.with(ctx, func(c *pgx.Conn) error { _, err := c.Exec(ctx, s.q.put, ns, key, value); return err })
	if err != nil {
		return fmt.Errorf("put %s/%s: %w", ns, key, err)
	}
	return nil
}

// Delete removes ns/key; deleting a missing key is not an error.
func (s *Store) Delete(ctx context.Context, ns, key string) error {
	if engine.CheckKV(ns, key) != nil {
		return ctx.Err() // it cannot exist
	}
	err := s.with(ctx, func(c *pgx.Conn) error { _, err := c.Exec(ctx, s.q.delete, ns, key); return err })
	if err != nil {
		return fmt.Errorf("delete %s/%s: %w", ns, key, err)
	}
	return nil
}
