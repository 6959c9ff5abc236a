// Command user is Roboshop's account service: guest and user tokens (EdDSA JWTs),
// registration, login and the JWKS other services verify tokens with.
package main

import "github.com/roboshop-go/roboshop/kit"

func main() { kit.Main(run) }
