package main

import (
	"context"
	"database/sql"
	"errors"
)

// The store's operations on users and products (shop::store).

func (s *Store) Ping() *apiError {
	return s.do(func(ctx context.Context) error {
		var one int
		return s.stmt(sqlPing).QueryRowContext(ctx).Scan(&one)
	})
}

func (s *Store) CreateUser(in *newUser) (u *user, e *apiError) {
	e = s.do(func(ctx context.Context) (err error) {
		u, err = scanUser(s.stmt(sqlInsertUser).QueryRowContext(ctx, in.username, in.email))
		return err
	})
	return u, e
}

func (s *Store) GetUser(id int64) (u *user, e *apiError) {
	e = s.do(func(ctx context.Context) (err error) {
		u, err = scanUser(s.stmt(sqlGetUser).QueryRowContext(ctx, id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("user", id)
		}
		return err
	})
	return u, e
}

func (s *Store) ListUsers(p page) (users []*user, e *apiError) {
	e = s.do(func(ctx context.Context) error {
		rows, err := s.stmt(sqlListUsers).QueryContext(ctx, p.limit, p.offset)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				return err
			}
			users = append(users, u)
		}
		return rows.Err()
	})
	return users, e
}

func (s *Store) UpdateUser(id int64, patch *userPatch) (u *user, e *apiError) {
	e = s.do(func(ctx context.Context) (err error) {
		u, err = scanUser(s.stmt(sqlUpdateUser).QueryRowContext(ctx, id, nullable(patch.username), nullable(patch.email)))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("user", id)
		}
		return err
	})
	return u, e
}

func (s *Store) DeleteUser(id int64) *apiError {
	return s.do(func(ctx context.Context) error {
		return deleted(s.stmt(sqlDeleteUser).ExecContext(ctx, id))(notFound("user", id))
	})
}

func (s *Store) CreateProduct(in *newProduct) (p *product, e *apiError) {
	e = s.do(func(ctx context.Context) (err error) {
		p, err = scanProduct(s.stmt(sqlInsertProduct).QueryRowContext(ctx,
			in.name, in.description, formatCents(in.price.cents), in.stock, in.category))
		return err
	})
	return p, e
}

func (s *Store) GetProduct(id int64) (p *product, e *apiError) {
	e = s.do(func(ctx context.Context) (err error) {
		p, err = scanProduct(s.stmt(sqlGetProduct).QueryRowContext(ctx, id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("product", id)
		}
		return err
	})
	return p, e
}

func (s *Store) ListProducts(category *string, p page) (products []*product, e *apiError) {
	e = s.do(func(ctx context.Context) error {
		var rows *sql.Rows
		var err error
		if category != nil {
			rows, err = s.stmt(sqlListProductsInCategory).QueryContext(ctx, p.limit, p.offset, *category)
		} else {
			rows, err = s.stmt(sqlListProducts).QueryContext(ctx, p.limit, p.offset)
		}
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			p, err := scanProduct(rows)
			if err != nil {
				return err
			}
			products = append(products, p)
		}
		return rows.Err()
	})
	return products, e
}

func (s *Store) UpdateProduct(id int64, patch *productPatch) (p *product, e *apiError) {
	var price, stock any
	if patch.price != nil {
		price = formatCents(patch.price.cents)
	}
	if patch.stock != nil {
		stock = *patch.stock
	}
	e = s.do(func(ctx context.Context) (err error) {
		p, err = scanProduct(s.stmt(sqlUpdateProduct).QueryRowContext(ctx, id,
			nullable(patch.name), nullable(patch.description), price, stock, nullable(patch.category)))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("product", id)
		}
		return err
	})
	return p, e
}

func (s *Store) DeleteProduct(id int64) *apiError {
	return s.do(func(ctx context.Context) error {
		return deleted(s.stmt(sqlDeleteProduct).ExecContext(ctx, id))(notFound("product", id))
	})
}

// nullable is a patch field as a statement parameter: NULL when absent.
func nullable(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// deleted turns a DELETE's result into nil, its error, or `missing` when it
// deleted nothing.
func deleted(result sql.Result, err error) func(missing error) error {
	return func(missing error) error {
		if err != nil {
			return err
		}
		n, err := result.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return missing
		}
		return nil
	}
}
