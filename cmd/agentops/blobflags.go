package agentops

import (
	"github.com/spf13/pflag"

	"github.com/agentops/agentops/app"
)

// addBlobFlags adds the object storage settings, which serve, backup and
// restore share.
func addBlobFlags(f *pflag.FlagSet, cfg *app.Config) {
	f.StringVar(&cfg.Blob, "blob", "fs", "object storage: fs (files under <data-dir>/blobs) or s3 (any S3-compatible service)")
	f.StringVar(&cfg.S3.Endpoint, "s3-endpoint", "", "S3 endpoint URL, e.g. https://s3.us-east-1.amazonaws.com, https://<account>.r2.cloudflarestorage.com, http://localhost:9000")
	f.StringVar(&cfg.S3.Region, "s3-region", "us-east-1", "S3 region (auto for Cloudflare R2)")
	f.StringVar(&cfg.S3.Bucket, "s3-bucket", "", "S3 bucket (must exist)")
	f.StringVar(&cfg.S3.AccessKey, "s3-access-key", "", "S3 access key id")
	f.StringVar(&cfg.S3.SecretKey, "s3-secret-key", "", "S3 secret key (prefer AGENTOPS_S3_SECRET_KEY: flags show in ps)")
	f.BoolVar(&cfg.S3.PathStyle, "s3-path-style", false, "address the bucket in the URL path (MinIO and most self-hosted services)")
	fromEnv(f, "blob", "s3-endpoint", "s3-region", "s3-bucket", "s3-access-key", "s3-secret-key", "s3-path-style")
}
