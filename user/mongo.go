package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/roboshop-go/roboshop/kit/mongokit"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.opentelemetry.io/otel/trace"
)

// mongoStore keeps users, login attempts and the signing key in the service's own
// database. It uses only what MongoDB and the FerretDB stand-in both support:
// plain CRUD and unique indexes (no transactions, TTL or text indexes).
type mongoStore struct {
	client   *mongo.Client
	users    *mongo.Collection
	attempts *mongo.Collection
	spent    *mongo.Collection // login challenges used
	keys     *mongo.Collection
}

type userDoc struct {
	ID           string    `bson:"_id"`
	Email        string    `bson:"email"`
	Name         string    `bson:"name"`
	PasswordHash []byte    `bson:"password_hash"`
	CreatedAt    time.Time `bson:"created_at"`
}

type attemptDoc struct {
	ID    string    `bson:"_id"`
	Email string    `bson:"email"`
	Addr  string    `bson:"addr"`
	At    time.Time `bson:"at"`
}

type spentDoc struct {
	ID string    `bson:"_id"`
	At time.Time `bson:"at"`
}

type keyDoc struct {
	ID        string    `bson:"_id"`
	Seed      []byte    `bson:"seed"`
	CreatedAt time.Time `bson:"created_at"`
}

// openMongoStore configures the client (see mongokit.Connect).
func openMongoStore(uri, database string, tp trace.TracerProvider, reg prometheus.Registerer) (*mongoStore, error) {
	client, err := mongokit.Connect(uri, "roboshop-user", tp, reg)
	if err != nil {
		return nil, err
	}
	db := client.Database(database)
	return &mongoStore{client: client, users: db.Collection("users"),
		attempts: db.Collection("login_attempts"), spent: db.Collection("spent_challenges"), keys: db.Collection("signing_keys")}, nil
}

func (s *mongoStore) Close() error { return mongokit.Disconnect(s.client) }

func (s *mongoStore) Ping(ctx context.Context) error {
	return unavailable(s.client.Ping(ctx, readpref.Primary()))
}

func (s *mongoStore) EnsureIndexes(ctx context.Context) error {
	_, err := s.users.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true).SetName("email_unique"),
	})
	if err != nil {
		return unavailable(err)
	}
	_, err = s.attempts.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys: bson.D{{Key: "email", Value: 1}, {Key: "addr", Value: 1}, {Key: "at", Value: 1}}, Options: options.Index().SetName("email_addr_at"),
	})
	return unavailable(err)
}

func (s *mongoStore) CreateUser(ctx context.Context, u User) error {
	_, err := s.users.InsertOne(ctx, userDoc{ID: u.ID, Email: u.Email, Name: u.Name,
		PasswordHash: u.PasswordHash, CreatedAt: u.CreatedAt})
	if mongo.IsDuplicateKeyError(err) {
		return errEmailTaken
	}
	return unavailable(err)
}

func (s *mongoStore) UserByEmail(ctx context.Context, email string) (User, error) {
	return s.findUser(ctx, bson.D{{Key: "email", Value: email}})
}

func (s *mongoStore) UserByID(ctx context.Context, id string) (User, error) {
	return s.findUser(ctx, bson.D{{Key: "_id", Value: id}})
}

func (s *mongoStore) findUser(ctx context.Context, filter bson.D) (User, error) {
	var d userDoc
	err := s.users.FindOne(ctx, filter).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return User{}, errNotFound
	}
	if err != nil {
		return User{}, unavailable(err)
	}
	return User{ID: d.ID, Email: d.Email, Name: d.Name, PasswordHash: d.PasswordHash, CreatedAt: d.CreatedAt.UTC()}, nil
}

func attemptFilter(email, addr string, since time.Time) bson.D {
	f := bson.D{{Key: "email", Value: email}}
	if addr != "" {
		f = append(f, bson.E{Key: "addr", Value: addr})
	}
	return append(f, bson.E{Key: "at", Value: bson.D{{Key: "$gte", Value: since}}})
}

// RecordAttempt inserts one document per attempt rather than incrementing a
// counter: inserts never lose an update under concurrency, on MongoDB and on
// the FerretDB stand-in alike (whose $inc upsert is not atomic).
func (s *mongoStore) RecordAttempt(ctx context.Context, email, addr string, at, forgetBefore time.Time) (string, error) {
	id := bson.NewObjectID().Hex()
	if _, err := s.attempts.InsertOne(ctx, attemptDoc{ID: id, Email: email, Addr: addr, At: at}); err != nil {
		return "", unavailable(err)
	}
	_, err := s.attempts.DeleteMany(ctx, bson.D{{Key: "email", Value: email}, {Key: "at", Value: bson.D{{Key: "$lt", Value: forgetBefore}}}})
	return id, unavailable(err)
}

func (s *mongoStore) CountAttempts(ctx context.Context, email, addr string, since time.Time) (int, error) {
	n, err := s.attempts.CountDocuments(ctx, attemptFilter(email, addr, since))
	return int(n), unavailable(err)
}

func (s *mongoStore) OldestAttempt(ctx context.Context, email, addr string, since time.Time) (time.Time, error) {
	var oldest attemptDoc
	err := s.attempts.FindOne(ctx, attemptFilter(email, addr, since),
		options.FindOne().SetSort(bson.D{{Key: "at", Value: 1}})).Decode(&oldest)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return since, nil // cleared meanwhile
	}
	return oldest.At, unavailable(err)
}

func (s *mongoStore) ForgetAttempt(ctx context.Context, id string) error {
	_, err := s.attempts.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	return unavailable(err)
}

func (s *mongoStore) ClearAttempts(ctx context.Context, email, addr string) error {
	_, err := s.attempts.DeleteMany(ctx, bson.D{{Key: "email", Value: email}, {Key: "addr", Value: addr}})
	return unavailable(err)
}

func (s *mongoStore) SpendChallenge(ctx context.Context, id string, at, forgetBefore time.Time) error {
	if _, err := s.spent.InsertOne(ctx, spentDoc{ID: id, At: at}); mongo.IsDuplicateKeyError(err) {
		return errChallengeSpent
	} else if err != nil {
		return unavailable(err)
	}
	_, err := s.spent.DeleteMany(ctx, bson.D{{Key: "at", Value: bson.D{{Key: "$lt", Value: forgetBefore}}}})
	return unavailable(err)
}

const activeKeyID = "active"

func (s *mongoStore) SigningKey(ctx context.Context, candidate ed25519.PrivateKey) (ed25519.PrivateKey, error) {
	// Insert-if-absent on a fixed _id: of two instances starting together, one
	// insert wins and both then read the same key.
	_, err := s.keys.InsertOne(ctx, keyDoc{ID: activeKeyID, Seed: candidate.Seed(), CreatedAt: time.Now().UTC()})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return nil, unavailable(err)
	}
	var d keyDoc
	if err := s.keys.FindOne(ctx, bson.D{{Key: "_id", Value: activeKeyID}}).Decode(&d); err != nil {
		return nil, unavailable(err)
	}
	if len(d.Seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("stored signing key is malformed (%d bytes)", len(d.Seed))
	}
	return ed25519.NewKeyFromSeed(d.Seed), nil
}

// unavailable maps driver failures the way every MongoDB-backed service does.
var unavailable = mongokit.Unavailable
