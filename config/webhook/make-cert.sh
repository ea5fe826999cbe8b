#!/bin/sh
# Create the webhook serving certificate without cert-manager: a self-signed CA and a certificate for
# the webhook Service, stored in Secret workspace-webhook-cert, and the CA written into the caBundle of
# the ValidatingWebhookConfiguration. Run after `kubectl apply -k config/default`; re-run to rotate.
#
#   config/webhook/make-cert.sh [NAMESPACE]        (default kaito-system)
#   KUBECTL="kubectl --context other" config/webhook/make-cert.sh
#   OUT_DIR=/some/dir NO_APPLY=1 config/webhook/make-cert.sh   (only write the files)
set -eu

NAMESPACE="${1:-kaito-system}"
SERVICE="kaito-workspace-webhook"
SECRET="workspace-webhook-cert"
WEBHOOK="validation.workspace.kaito.sh"
DAYS="${DAYS:-825}"
KUBECTL="${KUBECTL:-kubectl}"
OUT_DIR="${OUT_DIR:-$(mktemp -d)}"

mkdir -p "$OUT_DIR"
cd "$OUT_DIR"
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$DAYS" \
  -subj "/CN=kaito-webhook-ca" -keyout ca.key -out ca.crt 2>/dev/null
cat > server.ext <<EXT
basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:${SERVICE}.${NAMESPACE}.svc,DNS:${SERVICE}.${NAMESPACE}.svc.cluster.local
EXT
openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=${SERVICE}.${NAMESPACE}.svc" \
  -keyout tls.key -out server.csr 2>/dev/null
openssl x509 -req -sha256 -days "$DAYS" -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
  -extfile server.ext -out tls.crt 2>/dev/null
openssl verify -CAfile ca.crt tls.crt >/dev/null

if [ -n "${NO_APPLY:-}" ]; then
  echo "wrote $OUT_DIR/ca.crt, tls.crt, tls.key"
  exit 0
fi

$KUBECTL -n "$NAMESPACE" create secret generic "$SECRET" \
  --from-file=tls.crt=tls.crt --from-file=tls.key=tls.key --from-file=ca.crt=ca.crt \
  --dry-run=client -o yaml | $KUBECTL apply -f -
CA_BUNDLE="$(base64 < ca.crt | tr -d '\n')"
$KUBECTL patch validatingwebhookconfiguration "$WEBHOOK" --type=json \
  -p "[{\"op\":\"add\",\"path\":\"/webhooks/0/clientConfig/caBundle\",\"value\":\"${CA_BUNDLE}\"},{\"op\":\"add\",\"path\":\"/webhooks/1/clientConfig/caBundle\",\"value\":\"${CA_BUNDLE}\"}]"
# The operator reads the files from the mounted Secret; restart it so it serves the new certificate.
$KUBECTL -n "$NAMESPACE" rollout restart deployment/kaito-workspace
echo "webhook certificate installed in ${NAMESPACE}/${SECRET}"
