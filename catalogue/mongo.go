package main

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/roboshop-go/roboshop/kit/mongokit"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.opentelemetry.io/otel/trace"
)

// mongoStore keeps categories and products (keyed by slug and SKU) in the
// service's own database, using only what MongoDB and the FerretDB stand-in share.
type mongoStore struct {
	client     *mongo.Client
	categories *mongo.Collection
	products   *mongo.Collection
}

type categoryDoc struct {
	Slug        string `bson:"_id"`
	Name        string `bson:"name"`
	Description string `bson:"description"`
}

type productDoc struct {
	SKU         string `bson:"_id"`
	Name        string `bson:"name"`
	Description string `bson:"description"`
	Category    string `bson:"category"`
	PriceCents  int64  `bson:"price_cents"`
	Image       string `bson:"image"`
	Stock       int    `bson:"stock"`
	Featured    bool   `bson:"featured"`
}

func (d productDoc) product() Product {
	return Product(d)
}

// openMongoStore configures the client (see mongokit.Connect).
func openMongoStore(uri, database string, tp trace.TracerProvider, reg prometheus.Registerer) (*mongoStore, error) {
	client, err := mongokit.Connect(uri, "roboshop-catalogue", tp, reg)
	if err != nil {
		return nil, err
	}
	db := client.Database(database)
	return &mongoStore{client: client, categories: db.Collection("categories"), products: db.Collection("products")}, nil
}

func (s *mongoStore) Close() error { return mongokit.Disconnect(s.client) }

func (s *mongoStore) Ping(ctx context.Context) error {
	return unavailable(s.client.Ping(ctx, readpref.Primary()))
}

// Seed inserts every category and product that is not there yet and leaves
// existing ones alone (stock may have changed), so it is safe on every start and
// from several instances at once. Reads are served from the cache, which loads
// the whole catalogue, so no secondary index is needed.
func (s *mongoStore) Seed(ctx context.Context, d seedData) error {
	cats := make([]any, 0, len(d.Categories))
	slugs := make(bson.A, 0, len(d.Categories))
	for _, c := range d.Categories {
		cats = append(cats, categoryDoc(c))
		slugs = append(slugs, c.Slug)
	}
	prods := make([]any, 0, len(d.Products))
	skus := make(bson.A, 0, len(d.Products))
	for _, p := range d.Products {
		prods = append(prods, productDoc(p))
		skus = append(skus, p.SKU)
	}
	for _, step := range []struct {
		col  *mongo.Collection
		ids  bson.A
		docs []any
	}{{s.categories, slugs, cats}, {s.products, skus, prods}} {
		// On every start but the first, everything is there: a count instead of
		// dozens of writes.
		n, err := step.col.CountDocuments(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: step.ids}}}})
		if err != nil {
			return unavailable(err)
		}
		if n == int64(len(step.ids)) {
			continue
		}
		// Plain inserts, unordered: what exists stays as it is (a duplicate key),
		// the rest is added. Seeders that start together only collide on keys.
		// (Upserts read before they write, and on the SQLite-backed stand-in
		// concurrent read-then-write transactions could deadlock.)
		if _, err := step.col.InsertMany(ctx, step.docs, options.InsertMany().SetOrdered(false)); err != nil && !onlyDuplicates(err) {
			return unavailable(err)
		}
	}
	return nil
}

// onlyDuplicates reports whether every failed write of a bulk insert failed
// because its _id was already there.
func onlyDuplicates(err error) bool {
	var bulk mongo.BulkWriteException
	if !errors.As(err, &bulk) || bulk.WriteConcernError != nil || len(bulk.WriteErrors) == 0 {
		return false
	}
	for _, we := range bulk.WriteErrors {
		if we.Code != 11000 {
			return false
		}
	}
	return true
}

func (s *mongoStore) Categories(ctx context.Context) ([]Category, error) {
	cur, err := s.categories.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "name", Value: 1}}))
	if err != nil {
		return nil, unavailable(err)
	}
	var docs []categoryDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, unavailable(err)
	}
	out := make([]Category, len(docs))
	for i, d := range docs {
		out[i] = Category(d)
	}
	return out, nil
}

// AllProducts returns the whole catalogue; the cache serves every read from it.
func (s *mongoStore) AllProducts(ctx context.Context) ([]Product, error) {
	cur, err := s.products.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, unavailable(err)
	}
	var docs []productDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, unavailable(err)
	}
	out := make([]Product, len(docs))
	for i, d := range docs {
		out[i] = d.product()
	}
	return out, nil
}

// unavailable maps driver failures the way every MongoDB-backed service does.
var unavailable = mongokit.Unavailable
