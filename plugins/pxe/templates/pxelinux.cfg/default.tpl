# Layer0 for {{.Nodename}} ({{.ID}}), rendered for this node by the layercake pxe plugin (method pxe:
# pxelinux.0 / syslinux.efi over TFTP). Same kernel command line contract as boot.ipxe.tpl.
DEFAULT layer0
PROMPT 0
TIMEOUT 0
LABEL layer0
  KERNEL vmlinuz
  APPEND initrd=layer0-base.img,layer0-kmod.img,layer0-config.img console=tty0 console=ttyS0,115200 root=/dev/ram0 ip={{.IP}}::{{.Gateway}}:{{.Netmask}}:{{.Nodename}}:{{.Iface}}:off layercake.iface={{.Iface}} layercake.ip={{.IP}} layercake.net={{.CIDR}} layercake.id={{.ID}} layercake.parent={{.ParentIP}} layercake.url={{.ParentURL}} layercake.name={{.Nodename}} layercake.secret={{.JoinSecret}}
