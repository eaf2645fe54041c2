#!ipxe
# Layer0 boot script for {{.Nodename}} ({{.ID}}), rendered for this node by the layercake pxe plugin.
# Served over HTTP to iPXE clients; file names below are relative to this script's URL, and the server
# looks each one up in <root>/<arch>/<platform>/, then <root>/<arch>/, then <root>/.
#
# Kernel command line contract (read by Layer0's init; see docs/pxe.md):
#   layercake.id      the node's UUID            layercake.parent  the parent's address
#   layercake.url     the parent's API URL        layercake.name    the node name
#   layercake.iface   interface to configure      layercake.ip / layercake.net   address and prefix length
#   layercake.secret  the node's join secret of the sync protocol (empty until it has one)
#   ip=               the kernel's own early network configuration (client::gateway:netmask:host:dev:off)
echo layercake: booting {{.Nodename}} layercake.id={{.ID}} layercake.parent={{.ParentIP}}
kernel vmlinuz initrd=layer0-base.img initrd=layer0-kmod.img initrd=layer0-config.img console=tty0 console=ttyS0,115200 root=/dev/ram0 ip={{.IP}}::{{.Gateway}}:{{.Netmask}}:{{.Nodename}}:{{.Iface}}:off layercake.iface={{.Iface}} layercake.ip={{.IP}} layercake.net={{.CIDR}} layercake.id={{.ID}} layercake.parent={{.ParentIP}} layercake.url={{.ParentURL}} layercake.name={{.Nodename}} layercake.secret={{.JoinSecret}}
initrd layer0-base.img
initrd layer0-kmod.img
initrd layer0-config.img
boot
