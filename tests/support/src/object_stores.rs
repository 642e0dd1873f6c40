//! The three clouds' emulators behind one face, so that one test body runs on each:
//! moto for S3 ([`crate::s3`]), fake-gcs-server behind our front for GCS
//! ([`crate::gcs`]), Azurite for Azure ([`crate::azure`]).

use pipeline_checkpoint_host::backends::object_storage::Cloud;
use pipeline_checkpoint_host::{ObjectStorage, ObjectUrl};

use crate::azure::AzureServer;
use crate::gcs::GcsServer;
use crate::s3::S3Server;

/// The environment a child process (the CLI) finds every emulator's credentials in:
/// S3's access key, secret and session token, and Azurite's account key.
pub fn credentials_env() -> Vec<(&'static str, &'static str)> {
    let mut env = crate::s3::credentials_env().to_vec();
    env.push(("AZURE_STORAGE_ACCOUNT_KEY", crate::azure::ACCOUNT_KEY));
    env
}

/// Every cloud, for tests that run on each.
pub const CLOUDS: [Cloud; 3] = [Cloud::S3, Cloud::Gcs, Cloud::Azure];

/// One cloud's emulator, started for one test and stopped when dropped.
pub enum ObjectServer {
    /// moto.
    S3(S3Server),
    /// fake-gcs-server behind the front.
    Gcs(GcsServer),
    /// Azurite.
    Azure(AzureServer),
}

impl ObjectServer {
    /// Starts `cloud`'s emulator for `test`, or `None` where the test is skipped.
    pub fn start(cloud: Cloud, test: &str) -> Option<Self> {
        let test = format!("{test} ({})", cloud.scheme());
        match cloud {
            Cloud::S3 => S3Server::start(&test).map(Self::S3),
            Cloud::Gcs => GcsServer::start(&test).map(Self::Gcs),
            _ => AzureServer::start(&test).map(Self::Azure),
        }
    }

    /// The cloud.
    pub fn cloud(&self) -> Cloud {
        match self {
            Self::S3(_) => Cloud::S3,
            Self::Gcs(_) => Cloud::Gcs,
            Self::Azure(_) => Cloud::Azure,
        }
    }

    /// The port storages talk to.
    pub fn port(&self) -> u16 {
        match self {
            Self::S3(s3) => s3.port(),
            Self::Gcs(gcs) => gcs.port(),
            Self::Azure(azure) => azure.port(),
        }
    }

    /// Creates `bucket` (a container on Azure).
    pub fn create_bucket(&self, bucket: &str) {
        match self {
            Self::S3(s3) => s3.create_bucket(bucket),
            Self::Gcs(gcs) => gcs.create_bucket(bucket),
            Self::Azure(azure) => azure.create_container(bucket),
        }
    }

    /// The storage URL of `bucket`/`prefix` through `port`: the server's own, or a
    /// proxy's in front of it. Each request may take 2 s.
    pub fn url_at(&self, port: u16, bucket: &str, prefix: &str) -> String {
        match self {
            Self::S3(_) => crate::s3::url_at(port, bucket, prefix),
            Self::Gcs(_) => GcsServer::url_at(port, bucket, prefix),
            Self::Azure(_) => AzureServer::url_at(port, bucket, prefix),
        }
    }

    /// [`ObjectServer::url_at`] on the server's own port, the bucket created.
    pub fn url(&self, bucket: &str, prefix: &str) -> String {
        self.create_bucket(bucket);
        self.url_at(self.port(), bucket, prefix)
    }

    /// [`ObjectServer::url_at`] for the CLI, which takes its credentials from the
    /// environment ([`credentials_env`]): on GCS the service account file, which is
    /// no secret but names the emulator's settings, goes in the URL.
    pub fn cli_url_at(&self, port: u16, bucket: &str, prefix: &str) -> String {
        let url = self.url_at(port, bucket, prefix);
        match self {
            Self::Gcs(gcs) => format!("{url}&google_service_account={}", gcs.settings()[0].1),
            _ => url,
        }
    }

    /// [`ObjectServer::cli_url_at`] on the server's own port, the bucket created.
    pub fn cli_url(&self, bucket: &str, prefix: &str) -> String {
        self.create_bucket(bucket);
        self.cli_url_at(self.port(), bucket, prefix)
    }

    /// Freezes the emulator (SIGSTOP): connections are accepted by the kernel and
    /// never answered, as by a server that hangs.
    pub fn freeze(&self) {
        match self {
            Self::S3(s3) => s3.freeze(),
            Self::Gcs(gcs) => gcs.signal("STOP"),
            Self::Azure(azure) => azure.signal("STOP"),
        }
    }

    /// Thaws a frozen emulator (SIGCONT).
    pub fn thaw(&self) {
        match self {
            Self::S3(s3) => s3.thaw(),
            Self::Gcs(gcs) => gcs.signal("CONT"),
            Self::Azure(azure) => azure.signal("CONT"),
        }
    }

    /// The credentials a storage opens with, as `object_store` settings.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::S3(_) => crate::s3::settings()
                .map(|(n, v)| (n, v.to_owned()))
                .to_vec(),
            Self::Gcs(gcs) => gcs.settings(),
            Self::Azure(_) => AzureServer::settings(),
        }
    }

    /// The secrets of [`ObjectServer::settings`] (or parts of them): never to be shown.
    pub fn secrets(&self) -> Vec<&'static str> {
        match self {
            Self::S3(_) => vec![crate::s3::SECRET_ACCESS_KEY, crate::s3::SESSION_TOKEN],
            Self::Gcs(_) => vec!["GcsKeyMustNeverBePrinted"],
            Self::Azure(_) => vec![crate::azure::ACCOUNT_KEY],
        }
    }

    /// Opens `url` with the server's credentials, probing.
    pub async fn open(
        &self,
        url: &str,
    ) -> Result<ObjectStorage, pipeline_checkpoint_host::StorageError> {
        let settings = self.settings();
        let settings: Vec<(&str, &str)> = settings.iter().map(|(n, v)| (*n, v.as_str())).collect();
        ObjectStorage::open(url.parse::<ObjectUrl>().expect("a valid URL"), &settings).await
    }

    /// [`ObjectServer::open`] without the probe.
    pub fn open_read_only(
        &self,
        url: &str,
    ) -> Result<ObjectStorage, pipeline_checkpoint_host::StorageError> {
        let settings = self.settings();
        let settings: Vec<(&str, &str)> = settings.iter().map(|(n, v)| (*n, v.as_str())).collect();
        ObjectStorage::open_read_only(url.parse::<ObjectUrl>().expect("a valid URL"), &settings)
    }

    /// A probed storage for `bucket`/`prefix`, the bucket created.
    pub async fn storage(&self, bucket: &str, prefix: &str) -> ObjectStorage {
        self.open(&self.url(bucket, prefix))
            .await
            .expect("the emulator opens")
    }

    /// The object's bytes, straight from the emulator; `None` if it is missing.
    pub fn object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        match self {
            Self::S3(s3) => s3.object(bucket, key),
            Self::Gcs(gcs) => gcs.object(bucket, key),
            Self::Azure(azure) => azure.object(bucket, key),
        }
    }

    /// Stores `value` under `key`, unconditionally, behind the storage's back.
    pub fn put_object(&self, bucket: &str, key: &str, value: &[u8]) {
        match self {
            Self::S3(s3) => s3.put_object(bucket, key, value),
            Self::Gcs(gcs) => gcs.put_object(bucket, key, value),
            Self::Azure(azure) => azure.put_object(bucket, key, value),
        }
    }

    /// Deletes `key` behind the storage's back.
    pub fn delete_object(&self, bucket: &str, key: &str) {
        match self {
            Self::S3(s3) => s3.delete_object(bucket, key),
            Self::Gcs(gcs) => gcs.delete_object(bucket, key),
            Self::Azure(azure) => azure.delete_object(bucket, key),
        }
    }

    /// A proxy in front of the store that drops every write's condition: a store that
    /// ignores conditional writes. Returns its port.
    pub fn condition_stripping_proxy(&self) -> u16 {
        match self {
            Self::Azure(azure) => azure.condition_stripping_proxy(),
            _ => crate::http_fronts::condition_stripping_proxy(self.port()),
        }
    }

    /// Python that defines `read(bucket, key) -> bytes` and `write(bucket, key, data)`
    /// with the cloud's own client (boto3, google-cloud-storage, azure-storage-blob),
    /// and the module it needs, to skip where it is missing.
    pub fn python_client(&self) -> (String, &'static str) {
        match self {
            Self::S3(s3) => (
                format!(
                    "import boto3\n\
                     s3 = boto3.client('s3', endpoint_url='{}', region_name='us-east-1', \
                     aws_access_key_id='k', aws_secret_access_key='s')\n\
                     def read(b, k): return s3.get_object(Bucket=b, Key=k)['Body'].read()\n\
                     def write(b, k, d): s3.put_object(Bucket=b, Key=k, Body=d)\n",
                    s3.endpoint()
                ),
                "boto3",
            ),
            Self::Gcs(gcs) => (
                format!(
                    "import os\nos.environ['STORAGE_EMULATOR_HOST'] = '{}'\n\
                     from google.auth.credentials import AnonymousCredentials\n\
                     from google.cloud import storage\n\
                     gcs = storage.Client(project='test', credentials=AnonymousCredentials())\n\
                     def read(b, k): return gcs.bucket(b).blob(k).download_as_bytes()\n\
                     def write(b, k, d): gcs.bucket(b).blob(k).upload_from_string(d)\n",
                    gcs.emulator_host()
                ),
                "google.cloud.storage",
            ),
            Self::Azure(azure) => (
                format!(
                    "from azure.storage.blob import BlobServiceClient\n\
                     azure = BlobServiceClient.from_connection_string(\
                     'DefaultEndpointsProtocol=http;AccountName={};AccountKey={};BlobEndpoint={};')\n\
                     def read(b, k): return azure.get_blob_client(b, k).download_blob().readall()\n\
                     def write(b, k, d): azure.get_blob_client(b, k).upload_blob(d, overwrite=True)\n",
                    crate::azure::ACCOUNT,
                    crate::azure::ACCOUNT_KEY,
                    azure.endpoint()
                ),
                "azure.storage.blob",
            ),
        }
    }
}
