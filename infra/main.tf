# fc-notify: the resources s.yaml points at and the fc3 component cannot create: the MNS topic,
# one queue per channel and the dead-letter queue, the OSS bucket for batch files, the functions'
# RAM role with a least-privilege policy, the SLS project and logstore (and, optionally, FC's
# service-linked role). Names come from names.json, the one place: test/integration/s-yaml.test.ts
# renders s.yaml and fails when a name there differs. Usage: docs/deploy.md.
#
#   cd infra && terraform init && terraform apply
#
# Attribute names follow the aliyun/alicloud provider documentation (links in docs/deploy.md).

terraform {
  required_version = ">= 1.3"
  required_providers {
    alicloud = {
      source = "aliyun/alicloud"
      # alicloud_ram_role's role_name / assume_role_policy_document arrived in 1.252.0.
      version = ">= 1.252.0"
    }
  }
}

locals {
  names = jsondecode(file("${path.module}/names.json"))
}

variable "create_fc_service_linked_role" {
  description = "Create AliyunServiceRoleForFC, through which Function Compute writes the logs of a function without a role (template-validate). Set false when the account already has it (EntityAlreadyExists)."
  type        = bool
  default     = true
}

provider "alicloud" {
  region = local.names.region
}

data "alicloud_account" "current" {}

# Jobs for either channel; both functions subscribe (mns_topic triggers, created by fc3) and each
# sends its own channel: a topic fans out to every subscription.
resource "alicloud_message_service_topic" "jobs" {
  topic_name = local.names.topic
}

# A queue hands each message to one consumer, so each channel has its own queue, consumed by one
# function through its EventBridge trigger.
resource "alicloud_message_service_queue" "sms" {
  queue_name = local.names.smsQueue
}

resource "alicloud_message_service_queue" "voice" {
  queue_name = local.names.voiceQueue
}

# Failed async invocations (FC asyncInvokeConfig: OSS, MNS topic) and failed queue messages
# (EventBridge runOptions.deadLetterQueue) end here. Kept a week, the longest MNS allows.
resource "alicloud_message_service_queue" "dead_letter" {
  queue_name               = local.names.deadLetterQueue
  message_retention_period = 604800
}

# Batch files under batches/sms/ and batches/voice/ (one native OSS trigger per channel and file
# type, never overlapping), notify-on-upload objects under notify/sms/ and notify/voice/ (one
# trigger per function, any suffix); result files under results/. Private (the default ACL).
resource "alicloud_oss_bucket" "batches" {
  bucket = local.names.bucket
}

resource "alicloud_log_project" "logs" {
  project_name = local.names.logProject
  description  = "fc-notify function logs (stdout/stderr of long-sms, voice-notify, template-validate)"
}

resource "alicloud_log_store" "logs" {
  project_name     = alicloud_log_project.logs.project_name
  logstore_name    = local.names.logstore
  retention_period = 30
}

# Full-text index, so the SLS queries of docs/operations.md (e.g. `http and unknown`) work from day one.
resource "alicloud_log_store_index" "logs" {
  project  = alicloud_log_project.logs.project_name
  logstore = alicloud_log_store.logs.logstore_name
  full_text {
    case_sensitive = false
    token          = ", '\";=()[]{}?@&<>/:\n\t\r"
  }
}

# The role long-sms and voice-notify run with (s.yaml `role`). FC hands its STS credentials to the
# function (context.credentials) and uses it for the async dead-letter destination.
resource "alicloud_ram_role" "functions" {
  role_name   = local.names.roleName
  description = "fc-notify functions: read batch files and uploads' metadata, write result files, dead-letter failed async invocations, write logs"
  assume_role_policy_document = jsonencode({
    Version = "1"
    Statement = [{
      Action    = "sts:AssumeRole"
      Effect    = "Allow"
      Principal = { Service = ["fc.aliyuncs.com"] }
    }]
  })
}

# Exactly what the code and FC do with the role: oss:GetObject on the batch prefixes and the
# notify prefixes (HeadObject is authorised by oss:GetObject; docs/notify-on-upload.md),
# oss:PutObject on the result prefix, mns:SendMessage to the dead-letter queue, log writes to the
# one logstore. The test checks this against the OSS requests the code makes.
resource "alicloud_ram_policy" "functions" {
  policy_name     = "${local.names.roleName}-policy"
  description     = "Least privilege for the fc-notify functions"
  policy_document = templatefile("${path.module}/function-policy.json.tftpl", merge(local.names, { account = data.alicloud_account.current.id }))
}

resource "alicloud_ram_role_policy_attachment" "functions" {
  role_name   = alicloud_ram_role.functions.role_name
  policy_name = alicloud_ram_policy.functions.policy_name
  policy_type = "Custom"
}

resource "alicloud_resource_manager_service_linked_role" "fc" {
  count        = var.create_fc_service_linked_role ? 1 : 0
  service_name = "fc.aliyuncs.com"
}

output "role_arn" {
  description = "s.yaml builds the same ARN from vars.roleName"
  value       = alicloud_ram_role.functions.arn
}
